//! Content filters of routes: a CEL expression (the Common Expression Language of Kubernetes admission
//! policies and Envoy's RBAC, <https://cel.dev>) over one event, compiled once when the route is set.
//!
//! CEL rather than a language of our own: its syntax and semantics are specified and shared by many
//! implementations (the `cel` crate here), it always ends (no loops, no recursion), and it reads like the
//! conditions operators already write (`body.presenceDefinition.systemPresence != "Offline"`). CEL rather
//! than jq: a route needs a yes or no, not a transformation, and jq's programs (generators, multiple outputs)
//! make "did this event match" a question of conventions.
//!
//! An expression sees these variables (see [`VARIABLES`]):
//! - `topic`: the event's topic name (`v2.users.<id>.presence`);
//! - `family`: its topic family as the envelope's `topicFamily` writes it (`v2.users.{id}.presence`),
//!   `unknown` when it has none;
//! - `entity`: the part of the topic its family writes as `{id}` (the user id), `""` when there is none;
//! - `tenant`: the tenant's id;
//! - `body`: the event's `eventBody`, as JSON (objects are maps, numbers without a fraction are ints);
//! - `metadata`: `{"CorrelationId": ...}` when the event had one, else an empty map.
//!
//! This module is a leaf apart from [`crate::topics`], so that both the configuration and the router use it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};

use cel::common::ast::{EntryExpr, Expr, IdedEntryExpr, IdedExpr};
use cel::objects::{Key, Map};
use cel::{Context, Env, Program, Value};
use serde::Deserialize;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The variables an expression may use.
pub const VARIABLES: [&str; 6] = ["topic", "family", "entity", "tenant", "body", "metadata"];

/// The longest expression accepted, in bytes: a filter is a condition, not a program, and the bound keeps
/// the cost of compiling and running one small.
pub const MAX_FILTER_LEN: usize = 4096;

/// A compiled filter. Two filters are equal when their expressions are the same text.
#[derive(Clone)]
pub struct Filter {
    source: Arc<str>,
    program: Arc<Program>,
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Filter").field(&self.source).finish()
    }
}

impl PartialEq for Filter {
    fn eq(&self, other: &Filter) -> bool {
        self.source == other.source
    }
}

impl Eq for Filter {}

/// Why an expression does not compile, and where (line and column count from 1, columns in characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct FilterError {
    /// Where the fault is, when it is at one place.
    pub at: Option<(usize, usize)>,
    pub message: String,
}

impl FilterError {
    fn describe(&self) -> String {
        match self.at {
            Some((line, column)) => format!("line {line}, column {column}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

/// The standard library, shared by every filter (an `Env` is immutable once built).
fn env() -> &'static Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(Env::stdlib()))
}

impl Filter {
    /// Compiles `source`. Refused: an empty or over-long expression, a syntax error, and a name that is
    /// neither one of [`VARIABLES`] nor bound by a macro (`body.items.exists(i, i.id == entity)`), each with
    /// where it is.
    pub fn compile(source: &str) -> Result<Filter, FilterError> {
        let fault = |at, message: String| FilterError { at, message };
        if source.trim().is_empty() {
            return Err(fault(None, "is empty".into()));
        }
        if source.len() > MAX_FILTER_LEN {
            return Err(fault(
                None,
                format!(
                    "is {} bytes long; the most is {MAX_FILTER_LEN}",
                    source.len()
                ),
            ));
        }
        let program = compile_aside(source)?;
        Ok(Filter {
            source: source.into(),
            program: Arc::new(program),
        })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Runs the filter on `event`.
    pub fn test(&self, event: &Subject) -> Verdict {
        // Evaluation is bounded by the expression (no loops but over the body's own lists) and by the body
        // (nested at most `MAX_JSON_DEPTH` deep); a panic of the interpreter is one event's error, not the
        // router's end.
        match catch_unwind(AssertUnwindSafe(|| self.program.execute(&event.context))) {
            Ok(Ok(Value::Bool(true))) => Verdict::Pass,
            Ok(Ok(Value::Bool(false))) => Verdict::Reject,
            Ok(Ok(other)) => Verdict::Error(format!(
                "the expression gave {}, not a bool",
                other.type_of()
            )),
            Ok(Err(e)) => Verdict::Error(e.to_string()),
            Err(_) => Verdict::Error("the interpreter failed on this event".into()),
        }
    }
}

/// What a filter said of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Reject,
    /// The expression failed on this event (a missing field, a type mismatch) or gave something other than a
    /// bool: the event does not pass.
    Error(String),
}

/// The stack of the thread that compiles an expression. The parser (generated by ANTLR) recurses once per
/// nesting level before its own depth bound applies (and a chain `a.b.c...` has none): `(((...)))` within
/// [`MAX_FILTER_LEN`] would overflow an ordinary thread's stack and abort the process. The memory is only
/// reserved; a usual expression touches a few pages of it.
const PARSE_STACK: usize = 256 << 20;

/// The deepest tree an expression may make. The interpreter recurses once per level on the router's thread,
/// whose stack is an ordinary one; a condition on an event is rarely more than ten deep (a macro adds three).
pub const MAX_DEPTH: usize = 48;

/// Compiles `source` on a thread of its own with a large stack. A panic of the parser (generated code:
/// whatever it does on odd input, a configuration or an API request must get an answer, not take the process
/// down) is reported as a fault.
fn compile_aside(source: &str) -> Result<Program, FilterError> {
    let text = source.to_string();
    let failed = || FilterError {
        at: None,
        message: "the parser failed on this expression".into(),
    };
    std::thread::Builder::new()
        .name("filter-parse".into())
        .stack_size(PARSE_STACK)
        .spawn(move || compile_here(&text))
        .map_err(|_| failed())?
        .join()
        .map_err(|_| failed())?
}

/// Parses `source` and checks the tree: not deeper than [`MAX_DEPTH`], and every name known.
fn compile_here(source: &str) -> Result<Program, FilterError> {
    let fault = |at, message: String| FilterError { at, message };
    let program = env()
        .compile(source)
        .map_err(|errors| match errors.errors.first() {
            Some(e) => fault(
                position(e.pos.0, e.pos.1),
                e.msg.lines().next().unwrap_or("syntax error").to_string(),
            ),
            None => fault(None, "syntax error".into()),
        })?;
    let at = |id: u64| {
        program
            .source_info()
            .offset_for(id)
            .and_then(|(start, _)| line_column(source, start as usize))
    };
    if let Some(id) = deeper_than(program.expression(), MAX_DEPTH) {
        return Err(fault(
            at(id),
            format!("nests deeper than {MAX_DEPTH} levels"),
        ));
    }
    if let Some((name, id)) = unknown_name(program.expression(), &mut Vec::new()) {
        return Err(fault(
            at(id),
            format!(
                "undeclared reference to '{name}' (the variables are {})",
                VARIABLES.join(", ")
            ),
        ));
    }
    Ok(program)
}

/// The expressions of a map's or a message literal's entry.
fn entry(entry: &IdedEntryExpr) -> Vec<&IdedExpr> {
    match &entry.expr {
        EntryExpr::StructField(field) => vec![&field.value],
        EntryExpr::MapEntry(e) => vec![&e.key, &e.value],
    }
}

/// The children of a node of the tree.
fn children(expr: &IdedExpr) -> Vec<&IdedExpr> {
    match &expr.expr {
        Expr::Call(call) => call.target.iter().map(|t| &**t).chain(&call.args).collect(),
        Expr::Comprehension(c) => vec![
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ],
        Expr::List(list) => list.elements.iter().collect(),
        Expr::Map(map) => map.entries.iter().flat_map(entry).collect(),
        Expr::Struct(s) => s.entries.iter().flat_map(entry).collect(),
        Expr::Select(select) => vec![&*select.operand],
        Expr::Literal(_) | Expr::Ident(_) | Expr::Unspecified => Vec::new(),
    }
}

/// A node deeper than `max` below `expr`, if any. Recurses at most `max` deep whatever the tree.
fn deeper_than(expr: &IdedExpr, max: usize) -> Option<u64> {
    if max == 0 {
        return (!children(expr).is_empty()).then_some(expr.id);
    }
    children(expr)
        .into_iter()
        .find_map(|c| deeper_than(c, max - 1))
}

/// The CEL parser's (line, column), both from 1 (columns in characters); `(0, 0)` when it has none.
fn position(line: isize, column: isize) -> Option<(usize, usize)> {
    let line = usize::try_from(line).ok().filter(|l| *l > 0)?;
    let column = usize::try_from(column).ok().filter(|c| *c > 0)?;
    Some((line, column))
}

/// The line and column (from 1, in characters) of byte `offset` of `source`.
fn line_column(source: &str, offset: usize) -> Option<(usize, usize)> {
    let before = source.get(..offset)?;
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Some((line, before[line_start..].chars().count() + 1))
}

/// The first identifier of `expr` that is neither a variable nor bound by an enclosing macro, and its node.
fn unknown_name<'e>(expr: &'e IdedExpr, bound: &mut Vec<&'e str>) -> Option<(&'e str, u64)> {
    match &expr.expr {
        Expr::Ident(name) => {
            let known = VARIABLES.contains(&name.as_str())
                || bound.contains(&name.as_str())
                // The parser's own names (`@result`, `@it`) of expanded macros.
                || name.starts_with('@');
            (!known).then_some((name.as_str(), expr.id))
        }
        Expr::Comprehension(c) => {
            // The range and the accumulator's start are outside the macro's variables.
            let found =
                unknown_name(&c.iter_range, bound).or_else(|| unknown_name(&c.accu_init, bound));
            if found.is_some() {
                return found;
            }
            let outer = bound.len();
            bound.push(&c.iter_var);
            bound.extend(c.iter_var2.as_deref());
            bound.push(&c.accu_var);
            let found = [&c.loop_cond, &c.loop_step, &c.result]
                .into_iter()
                .find_map(|e| unknown_name(e, bound));
            bound.truncate(outer);
            found
        }
        _ => children(expr)
            .into_iter()
            .find_map(|e| unknown_name(e, bound)),
    }
}

/// One event's variables, read once from its envelope line and shared by every filter that tests it.
pub struct Subject {
    context: Context<'static, 'static>,
}

impl Subject {
    /// Reads the event envelope `json` of `tenant`; `None` when it is not one (every filter then fails on it).
    pub fn read(tenant: &str, json: &[u8]) -> Option<Subject> {
        #[derive(Deserialize)]
        struct Envelope<'a> {
            #[serde(borrow)]
            topic: Cow<'a, str>,
            #[serde(rename = "topicFamily", borrow, default)]
            topic_family: Option<Cow<'a, str>>,
            #[serde(rename = "correlationId", borrow, default)]
            correlation_id: Option<Cow<'a, str>>,
            #[serde(borrow)]
            body: &'a RawValue,
        }
        let envelope: Envelope<'_> = serde_json::from_slice(json).ok()?;
        let body =
            CelJson.deserialize(&mut serde_json::Deserializer::from_str(envelope.body.get()));
        let body = body.ok()?;
        let family = envelope.topic_family.as_deref().unwrap_or("unknown");
        let entity = crate::topics::entity_of(&envelope.topic, family)
            .map(Cow::into_owned)
            .unwrap_or_default();
        let metadata: HashMap<Key, Value> = envelope
            .correlation_id
            .map(|c| (Key::from("CorrelationId"), Value::from(c.into_owned())))
            .into_iter()
            .collect();
        let mut context = Context::with_env(env().clone());
        context.add_variable_from_value("topic", envelope.topic.into_owned());
        context.add_variable_from_value("family", family.to_string());
        context.add_variable_from_value("entity", entity);
        context.add_variable_from_value("tenant", tenant.to_string());
        context.add_variable_from_value("body", body);
        context.add_variable_from_value(
            "metadata",
            Value::Map(Map {
                map: Arc::new(metadata),
            }),
        );
        Some(Subject { context })
    }
}

/// Builds a CEL value straight from JSON text, without a `serde_json::Value` in between.
struct CelJson;

impl<'de> DeserializeSeed<'de> for CelJson {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CelJson {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::UInt(v), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(CelJson)? {
            items.push(item);
        }
        Ok(Value::List(Arc::new(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = HashMap::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(CelJson)?;
            out.insert(Key::from(key), value);
        }
        Ok(Value::Map(Map { map: Arc::new(out) }))
    }
}

#[cfg(test)]
mod tests;
