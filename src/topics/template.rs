//! Topic templates: one topic written with `{id}` where an entity's id goes, and a selector saying which
//! users or queues of the org it is for, e.g. `{ template = "v2.users.{id}?presence&routingStatus",
//! users = "all" }`. switchboard expands them through the platform's REST API and keeps the expansion in step
//! with the org (see `crate::tenant::templates`).
//!
//! One definition serves the configuration file, the admin API's body and view, and the store: the same
//! field names (`template`, `users` or `queues`, `priority`), read by [`TopicTemplate::from_json`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::topics::{Catalogue, expand};

/// What stands for the entity's id in a template.
pub const ID_PLACEHOLDER: &str = "{id}";

/// Most ids (divisions, queues) one selector may list.
pub const MAX_SELECTOR_IDS: usize = 100;

/// A topic template and the entities it is for.
// No `ToSchema`: its written form is a table (see `to_json`); the API's schema says `Object` where it appears.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct TopicTemplate {
    /// A topic (or combined topic) of the catalogue with `{id}` once where the entity's id goes.
    pub template: String,
    pub selector: Selector,
    /// Higher is placed first when not every topic fits. Default 0.
    pub priority: i32,
}

/// Which entities of the org a template is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// `users = "all"`: every active user.
    AllUsers,
    /// `users = { division = "id" }` (or a list): active users of these divisions.
    UsersOfDivisions(Vec<String>),
    /// `users = { queue = "id" }` (or a list): members of these queues.
    MembersOfQueues(Vec<String>),
    /// `queues = "all"`: every queue.
    AllQueues,
    /// `queues = { division = "id" }` (or a list): queues of these divisions.
    QueuesOfDivisions(Vec<String>),
    /// `queues = { name = "Sales*" }`: queues whose name matches; `*` matches any run of characters, case is
    /// ignored.
    QueuesNamed(String),
}

impl Selector {
    /// Whether the selector picks users (else queues).
    pub fn picks_users(&self) -> bool {
        matches!(
            self,
            Selector::AllUsers | Selector::UsersOfDivisions(_) | Selector::MembersOfQueues(_)
        )
    }

    /// The selector as written (`"all"` or a table).
    fn to_json(&self) -> Value {
        match self {
            Selector::AllUsers | Selector::AllQueues => Value::from("all"),
            Selector::UsersOfDivisions(ids) | Selector::QueuesOfDivisions(ids) => {
                serde_json::json!({ "division": one_or_many(ids) })
            }
            Selector::MembersOfQueues(ids) => serde_json::json!({ "queue": one_or_many(ids) }),
            Selector::QueuesNamed(pattern) => serde_json::json!({ "name": pattern }),
        }
    }
}

fn one_or_many(ids: &[String]) -> Value {
    match ids {
        [one] => Value::from(one.as_str()),
        many => Value::from(many.to_vec()),
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.picks_users() {
            "users"
        } else {
            "queues"
        };
        write!(f, "{kind} = {}", self.to_json())
    }
}

impl TopicTemplate {
    /// Reads a template from its written form (a TOML table turned JSON, or an API body), checking it against
    /// the topic catalogue. Errors are `(field, message)`, the field relative to the template.
    pub fn from_json(value: &Value) -> Result<TopicTemplate, Vec<(String, String)>> {
        let mut errs = Vec::new();
        let Some(table) = value.as_object() else {
            return Err(vec![(
                String::new(),
                "must be a table with `template` and `users` or `queues`".into(),
            )]);
        };
        for key in table.keys() {
            if !["template", "users", "queues", "priority"].contains(&key.as_str()) {
                errs.push((
                    key.clone(),
                    "is not a field of a topic template (template, users, queues, priority)".into(),
                ));
            }
        }
        let template = match table.get("template") {
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(_) => {
                errs.push(("template".into(), "must be a string".into()));
                None
            }
            None => {
                errs.push(("template".into(), "is required".into()));
                None
            }
        };
        let priority = match table.get("priority") {
            None | Some(Value::Null) => 0,
            Some(v) => match v.as_i64().and_then(|p| i32::try_from(p).ok()) {
                Some(p) => p,
                None => {
                    errs.push(("priority".into(), "must be a whole number".into()));
                    0
                }
            },
        };
        let selector = match (table.get("users"), table.get("queues")) {
            (Some(u), None) => read_selector(u, true).map_err(|e| ("users".to_string(), e)),
            (None, Some(q)) => read_selector(q, false).map_err(|e| ("queues".to_string(), e)),
            (Some(_), Some(_)) => Err((
                "queues".into(),
                "give either `users` or `queues`, not both".into(),
            )),
            (None, None) => Err((
                "users".into(),
                "a template needs `users` or `queues` to say which entities it is for".into(),
            )),
        };
        let selector = selector.map_err(|e| errs.push(e)).ok();
        if let (Some(template), Some(selector)) = (&template, &selector)
            && let Err(e) = check_template(template, selector)
        {
            errs.push(("template".into(), e));
        }
        match (template, selector) {
            (Some(template), Some(selector)) if errs.is_empty() => Ok(TopicTemplate {
                template,
                selector,
                priority,
            }),
            _ => Err(errs),
        }
    }

    /// The subscription id for one entity.
    pub fn topic_for(&self, id: &str) -> String {
        self.template.replacen(ID_PLACEHOLDER, id, 1)
    }

    /// The template as the file and the API write it.
    pub fn to_json(&self) -> Value {
        let mut table = serde_json::Map::new();
        table.insert("template".into(), Value::from(self.template.as_str()));
        let key = if self.selector.picks_users() {
            "users"
        } else {
            "queues"
        };
        table.insert(key.into(), self.selector.to_json());
        if self.priority != 0 {
            table.insert("priority".into(), Value::from(self.priority));
        }
        Value::Object(table)
    }

    /// What names the template among a tenant's: its topic and selector (two templates may share a topic).
    pub fn key(&self) -> String {
        format!("{} ({})", self.template, self.selector)
    }
}

impl TryFrom<Value> for TopicTemplate {
    type Error = String;
    fn try_from(value: Value) -> Result<TopicTemplate, String> {
        TopicTemplate::from_json(&value).map_err(|errs| in_one_line(&errs))
    }
}

impl From<TopicTemplate> for Value {
    fn from(t: TopicTemplate) -> Value {
        t.to_json()
    }
}

/// `field: message; field: message`.
pub fn in_one_line(errs: &[(String, String)]) -> String {
    errs.iter()
        .map(|(field, msg)| {
            if field.is_empty() {
                msg.clone()
            } else {
                format!("{field}: {msg}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn read_selector(value: &Value, users: bool) -> Result<Selector, String> {
    let kinds = if users {
        "\"all\", { division = \"<id>\" } or { queue = \"<queue id>\" }"
    } else {
        "\"all\", { division = \"<id>\" } or { name = \"<pattern>\" }"
    };
    match value {
        Value::String(s) if s == "all" => Ok(if users {
            Selector::AllUsers
        } else {
            Selector::AllQueues
        }),
        Value::Object(table) if table.len() == 1 => {
            let (key, v) = table.iter().next().expect("one entry");
            match (users, key.as_str()) {
                (true, "division") => Ok(Selector::UsersOfDivisions(ids(v)?)),
                (true, "queue") => Ok(Selector::MembersOfQueues(ids(v)?)),
                (false, "division") => Ok(Selector::QueuesOfDivisions(ids(v)?)),
                (false, "name") => match v {
                    Value::String(p) if !p.trim().is_empty() && p.len() <= 256 => {
                        Ok(Selector::QueuesNamed(p.trim().to_string()))
                    }
                    _ => Err("name must be a pattern of 1 to 256 characters".into()),
                },
                _ => Err(format!("{key:?} is not a selector here: use {kinds}")),
            }
        }
        _ => Err(format!("must be {kinds}")),
    }
}

/// One id or a list of 1 to [`MAX_SELECTOR_IDS`] ids, each 1 to 128 characters without `/`, `?` or spaces
/// (ids go into REST paths and queries).
fn ids(value: &Value) -> Result<Vec<String>, String> {
    let list: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    if list.is_empty() || list.len() > MAX_SELECTOR_IDS {
        return Err(format!("give 1 to {MAX_SELECTOR_IDS} ids"));
    }
    list.into_iter()
        .map(|v| match v.as_str() {
            Some(id)
                if !id.is_empty()
                    && id.len() <= 128
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                Ok(id.to_string())
            }
            _ => Err(format!(
                "{v} is not an id (1 to 128 letters, digits, - and _)"
            )),
        })
        .collect()
}

/// The template must hold `{id}` once, in the part of a topic where a user's or a queue's id goes (as the
/// selector picks), and be a topic of the catalogue once an id is put in.
fn check_template(template: &str, selector: &Selector) -> Result<(), String> {
    if template.matches(ID_PLACEHOLDER).count() != 1 {
        return Err(format!(
            "{template:?} must hold {ID_PLACEHOLDER} exactly once"
        ));
    }
    let (prefix, _) = template
        .split_once(ID_PLACEHOLDER)
        .unwrap_or((template, ""));
    let prefix = prefix.to_ascii_lowercase();
    let entity_is_user = prefix.ends_with(".users.");
    let entity_is_queue = prefix.ends_with(".queues.");
    if selector.picks_users() && !entity_is_user {
        return Err(format!(
            "{template:?} is not a user topic ({ID_PLACEHOLDER} must follow `users.`), but the selector picks users"
        ));
    }
    if !selector.picks_users() && !entity_is_queue {
        return Err(format!(
            "{template:?} is not a queue topic ({ID_PLACEHOLDER} must follow `queues.`), but the selector picks queues"
        ));
    }
    let sample = template.replacen(ID_PLACEHOLDER, "00000000-0000-0000-0000-000000000000", 1);
    expand(Catalogue::shipped(), &sample)
        .map(|_| ())
        .map_err(|e| match e {
            crate::topics::TopicError::Invalid(_) => format!(
                "{template:?} is not a valid topic once an id is put in: it matches no template of the topic catalogue"
            ),
            other => other.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_selector_reads_and_writes_back_the_same() {
        for written in [
            json!({"template": "v2.users.{id}?presence&routingStatus", "users": "all"}),
            json!({"template": "v2.users.{id}.presence", "users": {"division": "d1"}}),
            json!({"template": "v2.users.{id}.presence", "users": {"division": ["d1", "d2"]}}),
            json!({"template": "v2.users.{id}.presence", "users": {"queue": "q1"}, "priority": 3}),
            json!({"template": "v2.routing.queues.{id}.conversations", "queues": "all"}),
            json!({"template": "v2.routing.queues.{id}.conversations", "queues": {"division": "d1"}}),
            json!({"template": "v2.routing.queues.{id}.conversations", "queues": {"name": "Sales*"}}),
        ] {
            let t =
                TopicTemplate::from_json(&written).unwrap_or_else(|e| panic!("{written}: {e:?}"));
            assert_eq!(t.to_json(), written);
            let through_serde: TopicTemplate = serde_json::from_value(written.clone()).unwrap();
            assert_eq!(serde_json::to_value(&through_serde).unwrap(), written);
        }
    }

    #[test]
    fn a_template_puts_the_id_where_the_placeholder_is() {
        let t = TopicTemplate::from_json(
            &json!({"template": "v2.users.{id}?presence&routingStatus", "users": "all"}),
        )
        .unwrap();
        assert_eq!(t.topic_for("abc"), "v2.users.abc?presence&routingStatus");
        assert_eq!(t.selector, Selector::AllUsers);
    }

    #[test]
    fn bad_templates_name_the_field_and_the_reason() {
        let cases = [
            (json!({"users": "all"}), "template", "is required"),
            (
                json!({"template": "v2.users.presence", "users": "all"}),
                "template",
                "exactly once",
            ),
            (
                json!({"template": "v2.routing.queues.{id}.conversations", "users": "all"}),
                "template",
                "not a user topic",
            ),
            (
                json!({"template": "v2.users.{id}.presence", "queues": "all"}),
                "template",
                "not a queue topic",
            ),
            (
                json!({"template": "v2.users.{id}.nothing", "users": "all"}),
                "template",
                "no template of the topic catalogue",
            ),
            (
                json!({"template": "v2.users.{id}.presence"}),
                "users",
                "needs `users` or `queues`",
            ),
            (
                json!({"template": "v2.users.{id}.presence", "users": "some"}),
                "users",
                "must be \"all\"",
            ),
            (
                json!({"template": "v2.users.{id}.presence", "users": {"name": "x"}}),
                "users",
                "is not a selector here",
            ),
            (
                json!({"template": "v2.users.{id}.presence", "users": {"division": "a/b"}}),
                "users",
                "is not an id",
            ),
            (
                json!({"template": "v2.users.{id}.presence", "users": {"division": []}}),
                "users",
                "give 1 to 100 ids",
            ),
            (
                json!({"template": "v2.users.{id}.presence", "users": "all", "queues": "all"}),
                "queues",
                "not both",
            ),
            (
                json!({"template": "v2.users.{id}.presence", "users": "all", "colour": 1}),
                "colour",
                "not a field",
            ),
            (
                json!({"template": "v2.users.{id}.presence", "users": "all", "priority": "high"}),
                "priority",
                "whole number",
            ),
        ];
        for (written, field, words) in cases {
            let errs = TopicTemplate::from_json(&written).expect_err(&written.to_string());
            assert!(
                errs.iter().any(|(f, m)| f == field && m.contains(words)),
                "{written}: {errs:?}"
            );
        }
    }
}
