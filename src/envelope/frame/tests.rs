use super::*;

/// What serde_json made of a frame before this scanner: its derived struct, plus a bound on the body's nesting.
/// The scanner must agree with it on every frame it generates below.
mod reference {
    use std::borrow::Cow;

    use serde::Deserialize;
    use serde_json::value::RawValue;

    #[derive(Deserialize)]
    struct Metadata<'a> {
        #[serde(rename = "CorrelationId", borrow, default)]
        correlation_id: Option<Cow<'a, str>>,
    }

    #[derive(Deserialize)]
    struct Frame<'a> {
        #[serde(rename = "topicName", borrow, default)]
        topic_name: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        version: Option<Cow<'a, str>>,
        #[serde(rename = "eventBody", borrow, default)]
        event_body: Option<&'a RawValue>,
        /// An object (serde would fill a struct from an array too; a frame's metadata is never one).
        #[serde(borrow, default)]
        metadata: Option<&'a RawValue>,
        #[serde(borrow, default)]
        result: Option<Cow<'a, str>>,
    }

    fn deeper_than(raw: &str, max: usize) -> bool {
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        for &b in raw.as_bytes() {
            if in_string {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > max {
                        return true;
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        false
    }

    /// (topic, version, body, correlation id, result), all owned.
    pub type Fields = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );

    pub fn parse(text: &str) -> Option<Fields> {
        // Arrays are not frames (serde would fill a struct from one); the generator makes none at the top.
        if text.trim_start().starts_with('[') {
            return None;
        }
        let f: Frame<'_> = serde_json::from_str(text).ok()?;
        if f.event_body
            .is_some_and(|b| deeper_than(b.get(), super::MAX_JSON_DEPTH))
        {
            return None;
        }
        let metadata: Option<Metadata<'_>> = match f.metadata {
            Some(m) if m.get().starts_with('{') => Some(serde_json::from_str(m.get()).ok()?),
            Some(_) => return None,
            None => None,
        };
        let own = |c: Option<Cow<'_, str>>| c.map(Cow::into_owned);
        Some((
            own(f.topic_name),
            own(f.version),
            f.event_body.map(|b| b.get().to_string()),
            own(metadata.and_then(|m| m.correlation_id)),
            own(f.result),
        ))
    }
}

fn fields(f: Frame<'_>) -> reference::Fields {
    let own = |c: Option<Cow<'_, str>>| c.map(Cow::into_owned);
    (
        own(f.topic_name),
        own(f.version),
        f.event_body.map(str::to_string),
        own(f.correlation_id),
        own(f.result),
    )
}

/// A small deterministic generator (xorshift), so that a failure repeats.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const STRINGS: &[&str] = &[
    r#""""#,
    r#""v2.users.u-1.presence""#,
    r#""a\"b""#,
    r#""\u00e9t\u00E9""#,
    r#""\ud83d\ude00""#,
    r#""\ud83d""#,
    r#""tab\there""#,
    r#""é—😀""#,
    r#""\/\\\b\f\n\r""#,
    r#""\x""#,
    r#""\u12g4""#,
    "\"raw\u{1}control\"",
    r#""unterminated"#,
];
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "12",
    "-3.25",
    "1e9",
    "2E-3",
    "1.5e+7",
    "01",
    "1.",
    ".5",
    "-",
    "1e",
    "+1",
    "18446744073709551616",
];
const LITERALS: &[&str] = &["true", "false", "null", "nul", "tru", "NaN"];
const KEYS: &[&str] = &[
    r#""topicName""#,
    r#""version""#,
    r#""eventBody""#,
    r#""metadata""#,
    r#""result""#,
    r#""CorrelationId""#,
    r#""topic\u004eame""#,
    r#""other""#,
];
const SPACE: &[&str] = &["", "", "", " ", "\n\t ", "\r\n"];

/// The `i`-th member's key of an object and its colon (a comma before all but the first), spaced at random.
fn member_key(rng: &mut Rng, i: usize, out: &mut String) {
    if i > 0 {
        out.push(',');
    }
    out.push_str(rng.pick(SPACE));
    out.push_str(rng.pick(KEYS));
    out.push_str(rng.pick(SPACE));
    out.push(':');
    out.push_str(rng.pick(SPACE));
}

fn value(rng: &mut Rng, depth: usize, out: &mut String) {
    let kind = if depth > 4 {
        rng.below(3)
    } else {
        rng.below(6)
    };
    match kind {
        0 => out.push_str(rng.pick(STRINGS)),
        1 => out.push_str(rng.pick(NUMBERS)),
        2 => out.push_str(rng.pick(LITERALS)),
        3 | 4 => {
            out.push('{');
            for i in 0..rng.below(4) {
                member_key(rng, i, out);
                value(rng, depth + 1, out);
            }
            out.push_str(rng.pick(SPACE));
            out.push('}');
        }
        _ => {
            out.push('[');
            for i in 0..rng.below(4) {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(rng.pick(SPACE));
                value(rng, depth + 1, out);
            }
            out.push(']');
        }
    }
}

fn frame_text(rng: &mut Rng) -> String {
    let mut out = String::from(rng.pick(SPACE));
    out.push('{');
    for i in 0..rng.below(6) {
        member_key(rng, i, &mut out);
        match rng.below(4) {
            0 => out.push_str(rng.pick(STRINGS)),
            1 => {
                out.push_str(r#"{"CorrelationId":"#);
                out.push_str(rng.pick(STRINGS));
                out.push('}');
            }
            _ => value(rng, 1, &mut out),
        }
    }
    out.push('}');
    out.push_str(rng.pick(SPACE));
    // Some frames are damaged: cut short, or one byte changed or added.
    let bytes = out.len();
    match rng.below(8) {
        0 => {
            let mut at = rng.below(bytes);
            while !out.is_char_boundary(at) {
                at -= 1;
            }
            out.truncate(at);
        }
        1 => {
            let at = rng.below(bytes);
            if out.is_char_boundary(at) {
                out.insert(
                    at,
                    rng.pick(&["{", "}", "[", "]", ",", ":", "\"", "x", " "])
                        .as_bytes()[0] as char,
                );
            }
        }
        _ => {}
    }
    out
}

#[test]
fn the_scanner_reads_every_frame_as_serde_json_does() {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..200_000 {
        let text = frame_text(&mut rng);
        let ours = Frame::parse(&text).map(fields);
        let theirs = reference::parse(&text);
        assert_eq!(ours, theirs, "{text}");
        if ours.is_some() {
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    // Both outcomes are common, or the comparison proves little.
    assert!(
        accepted > 20_000 && refused > 20_000,
        "{accepted} accepted, {refused} refused"
    );
}

#[test]
fn nesting_is_bounded_in_every_value_and_brackets_in_strings_do_not_count() {
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let frame = |body: &str| format!(r#"{{"topicName":"t","eventBody":{body}}}"#);
    assert!(Frame::parse(&frame(&deep(MAX_JSON_DEPTH))).is_some());
    assert!(Frame::parse(&frame(&deep(MAX_JSON_DEPTH + 1))).is_none());
    assert!(Frame::parse(&frame(&deep(1_000_000))).is_none());
    let ignored = format!(
        r#"{{"topicName":"t","other":{}}}"#,
        deep(MAX_JSON_DEPTH + 1)
    );
    assert!(
        Frame::parse(&ignored).is_none(),
        "a field the engine ignores is bounded too"
    );
    let objects = format!(
        "{}{}",
        r#"{"a":"#.repeat(MAX_JSON_DEPTH),
        "}".repeat(MAX_JSON_DEPTH)
    );
    assert!(
        Frame::parse(&frame(&objects)).is_none(),
        "an object needs a value"
    );
    let objects = format!(
        "{}1{}",
        r#"{"a":"#.repeat(MAX_JSON_DEPTH),
        "}".repeat(MAX_JSON_DEPTH)
    );
    assert!(Frame::parse(&frame(&objects)).is_some());
    let strings = format!(r#"{{"a":"{}","b":"\"[[["}}"#, "[".repeat(500));
    assert_eq!(
        Frame::parse(&frame(&strings)).unwrap().event_body,
        Some(&*strings)
    );
}

#[test]
fn a_field_read_twice_or_of_the_wrong_type_makes_the_frame_malformed() {
    for text in [
        r#"{"topicName":"a","topicName":"b","eventBody":{}}"#,
        r#"{"topicName":null,"topicName":"b","eventBody":{}}"#,
        r#"{"topicName":"a","eventBody":{},"eventBody":{}}"#,
        r#"{"topicName":"a","metadata":{"CorrelationId":"1","CorrelationId":"2"}}"#,
        r#"{"topicName":5}"#,
        r#"{"topicName":"a","metadata":[]}"#,
        r#"{"topicName":"a","metadata":{"CorrelationId":{}}}"#,
        r#"{"topicName":"a"} x"#,
        r#"["v2.users.u.presence"]"#,
    ] {
        assert_eq!(Frame::parse(text), None, "{text}");
    }
    let f = Frame::parse(r#" {"other":1,"other":2,"topicName":"a","eventBody":null} "#).unwrap();
    assert_eq!(f.topic_name.as_deref(), Some("a"));
    assert_eq!(f.event_body, None);
}

#[test]
fn long_strings_end_or_fail_at_the_right_byte_whatever_its_offset() {
    // Strings long enough for the sixteen- and eight-byte steps, with a quote, an escape, a control character
    // or a multi-byte character at every offset: in the topic (read) and in the body (skipped).
    let stops = ["\"", "\\n", "\\u00e9", "\\q", "\n", "\u{1f}", "é", "😀"];
    for len in 0..48 {
        for at in 0..=len {
            for stop in stops {
                let text = format!("{}{stop}{}", "x".repeat(at), "y".repeat(len - at));
                for frame in [
                    format!(r#"{{"topicName":"{text}","eventBody":{{}}}}"#),
                    format!(r#"{{"topicName":"t","eventBody":{{"padding":"{text}"}}}}"#),
                ] {
                    assert_eq!(
                        Frame::parse(&frame).map(fields),
                        reference::parse(&frame),
                        "{frame}"
                    );
                }
            }
        }
    }
}
