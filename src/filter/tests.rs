//! Tests of filters: what compiles, where a fault is said to be, and what an event's variables hold.

use super::*;

fn presence_line(system_presence: &str) -> String {
    format!(
        r#"{{"kind":"event","id":"00000000000000ab","tenant":"acme","region":"eu-west-1","channelId":"ch","topic":"v2.users.u-1.presence","topicFamily":"v2.users.{{id}}.presence","receivedAt":"2026-01-01T00:00:00.000Z","version":"2","correlationId":"c-9","body":{{"source":"PURECLOUD","presenceDefinition":{{"id":"p","systemPresence":"{system_presence}"}},"message":"","modifiedDate":"2026-01-01T00:00:00.000Z","count":3,"items":[{{"id":"a"}},{{"id":"u-1"}}]}}}}"#
    )
}

fn verdict(expression: &str, line: &str) -> Verdict {
    let filter = Filter::compile(expression).unwrap();
    filter.test(&Subject::read("acme", line.as_bytes()).unwrap())
}

#[test]
fn a_filter_reads_every_variable_of_the_event() {
    let away = presence_line("Away");
    for expression in [
        r#"body.presenceDefinition.systemPresence != "Offline""#,
        r#"topic == "v2.users.u-1.presence""#,
        r#"family == "v2.users.{id}.presence""#,
        r#"entity == "u-1""#,
        r#"tenant == "acme""#,
        r#"metadata.CorrelationId == "c-9""#,
        "body.count > 2 && body.count == 3",
        "body.items.exists(i, i.id == entity)",
        r#"has(body.presenceDefinition) && !has(body.routingStatus)"#,
        r#"topic.endsWith(".presence") && body.presenceDefinition.systemPresence.matches("^A")"#,
        r#"body.presenceDefinition.systemPresence in ["Away", "Busy"]"#,
    ] {
        assert_eq!(verdict(expression, &away), Verdict::Pass, "{expression}");
    }
    assert_eq!(
        verdict(
            r#"body.presenceDefinition.systemPresence != "Offline""#,
            &presence_line("Offline")
        ),
        Verdict::Reject
    );
}

#[test]
fn a_failing_or_non_bool_expression_is_an_error_not_a_match() {
    let line = presence_line("Away");
    assert!(
        matches!(verdict("body.routingStatus.status == \"IDLE\"", &line), Verdict::Error(e) if e.contains("routingStatus")),
        "a missing field"
    );
    assert!(
        matches!(verdict("body.count", &line), Verdict::Error(e) if e.contains("not a bool")),
        "an int"
    );
    assert!(matches!(
        verdict("body.count == \"3\" || body.count / 0 == 1", &line),
        Verdict::Error(_)
    ));
}

#[test]
fn a_malformed_expression_is_refused_with_its_line_and_column() {
    // The input ends where an operand should be: the fault is just past the end.
    let e = Filter::compile("body.presenceDefinition.systemPresence == ").unwrap_err();
    assert_eq!(e.at, Some((1, 43)), "{e}");
    assert!(
        e.to_string()
            .starts_with("line 1, column 43: Syntax error: mismatched input '<EOF>'"),
        "{e}"
    );
    let e = Filter::compile("topic === 'x'").unwrap_err();
    assert_eq!(e.at, Some((1, 9)), "the third '=': {e}");

    let e = Filter::compile("topic == \"a\" &&\n  body.x ==== 1").unwrap_err();
    assert_eq!(e.at.map(|(line, _)| line), Some(2), "{e}");

    let e = Filter::compile(r#"tenant == "acme" && bdy.x == 1"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 1, column 21: undeclared reference to 'bdy' (the variables are topic, family, entity, tenant, body, metadata)"
    );
    // A macro's own variable is bound inside the macro only.
    assert!(Filter::compile("body.items.all(i, i.id != '') && i.id == 'x'").is_err());

    assert_eq!(Filter::compile("  ").unwrap_err().to_string(), "is empty");
    let long = format!("topic == '{}'", "a".repeat(MAX_FILTER_LEN));
    assert!(
        Filter::compile(&long)
            .unwrap_err()
            .to_string()
            .contains("the most is 4096")
    );
    // Deep nesting is refused by the parser's own bound, not by a stack overflow.
    let deep = format!("{}true{}", "(".repeat(2000), ")".repeat(2000));
    assert!(Filter::compile(&deep).is_err());
    // So is a tree too deep for the interpreter, which runs on an ordinary stack.
    let long_chain = format!("body{} == 1", ".a".repeat(2000));
    let e = Filter::compile(&long_chain).unwrap_err();
    assert!(e.message.contains("nests deeper than 48 levels"), "{e}");
    // A run of `!` is folded by the parser (an even count is no negation): no depth at all.
    let unary = format!("{}true", "!".repeat(4000));
    assert_eq!(
        Filter::compile(&unary)
            .unwrap()
            .test(&Subject::read("acme", presence_line("Away").as_bytes()).unwrap()),
        Verdict::Pass
    );
    let chain = format!("body{} == 1", ".a".repeat(40));
    assert!(Filter::compile(&chain).is_ok(), "40 deep is fine");
}

#[test]
fn filters_are_equal_when_their_text_is() {
    let a = Filter::compile("tenant == 'acme'").unwrap();
    assert_eq!(a, Filter::compile("tenant == 'acme'").unwrap());
    assert_ne!(a, Filter::compile("tenant == 'other'").unwrap());
    assert_eq!(a.source(), "tenant == 'acme'");
}

#[test]
fn an_event_without_an_id_in_its_family_has_an_empty_entity() {
    let line = r#"{"kind":"event","topic":"v2.analytics.x","topicFamily":"v2.analytics.x","body":{"n":1}}"#;
    assert_eq!(verdict("entity == '' && body.n == 1", line), Verdict::Pass);
    assert_eq!(
        verdict("metadata.size() == 0", line),
        Verdict::Pass,
        "no correlation id, no metadata"
    );
    assert!(Subject::read("acme", b"not json").is_none());
}
