use super::*;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn conversation(id: &str, start: &str, queue: &str, agent: Option<&str>) -> Value {
    let mut participants = vec![json!({
        "purpose": "acd",
        "sessions": [{"segments": [{"segmentType": "interact", "queueId": queue}]}],
    })];
    if let Some(a) = agent {
        participants.push(json!({"purpose": "agent", "userId": a, "sessions": []}));
    }
    json!({"conversationId": id, "conversationStart": start, "participants": participants})
}

#[test]
fn only_topics_of_conversation_families_are_wanted_whatever_their_case() {
    let w = Wanted::of([
        "v2.routing.queues.Q1.conversations",
        "v2.routing.queues.q2.conversations.calls",
        "v2.users.u1.conversations",
        "v2.users.u1.conversationsummary",
        "v2.users.u2.presence",
        "v2.detail.events.conversation.c1.acd.start",
        "v2.detail.events.conversation.c2",
        "v2.routing.queues..conversations",
    ]);
    assert_eq!(
        w.queues,
        BTreeSet::from(["q1".to_string(), "q2".to_string()])
    );
    assert_eq!(w.users, BTreeSet::from(["u1".to_string()]));
    assert_eq!(w.conversations, BTreeSet::from(["c1".to_string()]));
    assert_eq!(w.topics.len(), 4);
    assert!(Wanted::of(["v2.users.u1.presence"]).is_empty());
}

#[test]
fn a_family_is_the_topic_with_its_entity_as_the_template() {
    let t = "v2.routing.queues.q1.conversations.calls";
    let e = entity_of(t).unwrap();
    assert_eq!(
        family_of(t, &e),
        "v2.routing.queues.{id}.conversations.calls"
    );
}

#[test]
fn filters_name_every_entity_in_chunks_with_their_topics() {
    let topics: Vec<String> = (0..120)
        .map(|i| format!("v2.routing.queues.q{i}.conversations"))
        .chain(["v2.users.u1.conversations".to_string()])
        .chain(["v2.detail.events.conversation.c1.wrapup".to_string()])
        .collect();
    let w = Wanted::of(topics.iter().map(String::as_str));
    let filters = w.filters();
    // 120 queues in three queries (50, 50, 20), one for the user, one for the conversation.
    assert_eq!(filters.len(), 5);
    let count = |f: &Filter, key: &str| f.body[key][0]["predicates"].as_array().map_or(0, Vec::len);
    assert_eq!(
        filters
            .iter()
            .map(|f| count(f, "segmentFilters"))
            .sum::<usize>(),
        121
    );
    assert_eq!(
        filters.iter().map(|f| f.topics.len()).collect::<Vec<_>>(),
        [50, 50, 20, 1, 1]
    );
    for f in &filters[..3] {
        let named: BTreeSet<String> = f.body["segmentFilters"][0]["predicates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "v2.routing.queues.{}.conversations",
                    p["value"].as_str().unwrap()
                )
            })
            .collect();
        let topics: BTreeSet<String> = f.topics.iter().map(|(_, t)| t.clone()).collect();
        assert_eq!(
            topics, named,
            "a query's topics are those of the queues it names"
        );
    }
    assert_eq!(count(&filters[4], "conversationFilters"), 1);
    assert_eq!(
        filters[4].body["conversationFilters"][0]["predicates"][0]["dimension"],
        "conversationId"
    );
    assert_eq!(
        filters[3].body["segmentFilters"][0]["predicates"][0]["dimension"],
        "userId"
    );
    assert_eq!(
        filters[3].body["segmentFilters"][0]["predicates"][0]["value"],
        "u1"
    );
    assert_eq!(filters[3].topics[0].1, "v2.users.u1.conversations");
}

#[test]
fn a_query_covers_the_window_and_pages_oldest_first() {
    let filter = json!({"segmentFilters": [{"type": "or", "predicates": []}]});
    let q = Wanted::query(
        &filter,
        at("2026-12-01T10:00:00Z"),
        at("2026-12-01T10:00:10Z"),
        3,
    );
    assert_eq!(
        q["interval"],
        "2026-12-01T10:00:00.000Z/2026-12-01T10:00:10.001Z"
    );
    assert_eq!(q["order"], "asc");
    assert_eq!(q["orderBy"], "conversationStart");
    assert_eq!(q["paging"]["pageNumber"], 3);
    assert_eq!(q["paging"]["pageSize"], PAGE_SIZE);
    assert!(q["segmentFilters"].is_array());
}

#[test]
fn conversations_outside_the_window_are_left_out_and_the_rest_routed_by_what_they_show() {
    let w = Wanted::of([
        "v2.routing.queues.q1.conversations",
        "v2.routing.queues.q2.conversations",
    ]);
    let filter = &w.filters()[0];
    let (from, to) = (at("2026-12-01T10:00:00Z"), at("2026-12-01T10:00:10Z"));
    let inside = conversation("a", "2026-12-01T10:00:05.000Z", "q1", None);
    assert_eq!(
        filter.matches(&inside, from, to),
        Some(vec!["v2.routing.queues.q1.conversations"])
    );
    // The same day, outside the window: the platform returns it, the backfill does not deliver it.
    let earlier = conversation("b", "2026-12-01T09:59:59.999Z", "q1", None);
    assert_eq!(filter.matches(&earlier, from, to), None);
    let later = conversation("c", "2026-12-01T10:00:10.001Z", "q1", None);
    assert_eq!(filter.matches(&later, from, to), None);
    let edge = conversation("d", "2026-12-01T10:00:10.000Z", "Q2", None);
    assert_eq!(
        filter.matches(&edge, from, to),
        Some(vec!["v2.routing.queues.q2.conversations"])
    );
    // A call that has not reached its queue yet shows none: it stands for every topic the query named.
    let new_call = json!({"conversationId": "e", "conversationStart": "2026-12-01T10:00:09.000Z"});
    assert_eq!(
        filter.matches(&new_call, from, to).map(|t| t.len()),
        Some(2)
    );
    assert_eq!(
        filter.matches(&json!({"conversationId": "g"}), from, to),
        None
    );
}

#[test]
fn a_conversation_shows_its_agents_and_id() {
    let w = Wanted::of([
        "v2.users.u9.conversations",
        "v2.detail.events.conversation.e.acd.start",
    ]);
    let (from, to) = (at("2026-12-01T10:00:00Z"), at("2026-12-01T10:00:10Z"));
    let answered = conversation("e", "2026-12-01T10:00:01.000Z", "q2", Some("U9"));
    let filters = w.filters();
    assert_eq!(
        filters[0].matches(&answered, from, to),
        Some(vec!["v2.users.u9.conversations"])
    );
    assert_eq!(
        filters[1].matches(&answered, from, to),
        Some(vec!["v2.detail.events.conversation.e.acd.start"])
    );
}

#[test]
fn a_conversation_is_remembered_by_id_and_end() {
    let ongoing = json!({"conversationId": "a", "conversationStart": "x"});
    let ended = json!({"conversationId": "a", "conversationEnd": "2026-12-01T10:00:00.000Z"});
    assert_eq!(delivered_key(&ongoing).unwrap(), "a|");
    assert_ne!(delivered_key(&ongoing), delivered_key(&ended));
    assert_eq!(delivered_key(&json!({})), None);
}
