//! A server frame, read in one pass over its text: the fields the engine needs are taken out as it goes
//! (borrowed from the text), `eventBody` is kept as raw JSON, and the whole frame is checked to be JSON.
//!
//! Why not serde_json: deriving `Deserialize` walks the ~1 KiB frame once to validate it, a second pass was
//! needed to bound the body's nesting (serde_json does not bound what it keeps raw), and its nesting stack is
//! allocated afresh for every frame. This scanner does both in one pass, with its nesting held in a `u128`.
//! It accepts exactly the JSON of RFC 8259 (the text is already UTF-8: it is a `&str`).

use std::borrow::Cow;

mod stops;
pub(super) use self::stops::needs_escape;

/// The deepest nesting of arrays and objects any value of a frame may have (the event body, or a field the
/// engine ignores). serde_json refuses deeper input when it builds values (its own limit is 128) but not when
/// it keeps a body as raw text: without this bound, a body nested a million deep would reach every sink and
/// every consumer's parser.
pub const MAX_JSON_DEPTH: usize = 128;

/// A server frame, borrowed from its text.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Frame<'a> {
    pub topic_name: Option<Cow<'a, str>>,
    pub version: Option<Cow<'a, str>>,
    /// The raw JSON text of `eventBody` (absent or `null`: `None`).
    pub event_body: Option<&'a str>,
    /// `metadata.CorrelationId`.
    pub correlation_id: Option<Cow<'a, str>>,
    /// Present on answers to a socket-level subscribe and on "channel not found" (`"404"`).
    pub result: Option<Cow<'a, str>>,
}

/// What a frame means to a channel.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameKind {
    Heartbeat,
    Pong,
    /// Other `channel.metadata` frames.
    Metadata,
    SocketClosing,
    NoLongerSubscribed,
    TokenRevoked,
    /// Another `v2.system.*` topic.
    OtherSystem,
    /// `{"result":"404",...}`: the channel does not exist.
    ChannelGone,
    /// A reply to a socket-level subscribe (the engine does not use them).
    SubscribeReply,
    Event,
    /// JSON without a topic the engine understands.
    Unknown,
}

impl<'a> Frame<'a> {
    /// Parses a text frame; `None` when it is not a JSON object, when a field the engine reads has the wrong
    /// type or comes twice, or when a value nests deeper than [`MAX_JSON_DEPTH`].
    pub fn parse(text: &'a str) -> Option<Frame<'a>> {
        let mut scan = Scan {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        };
        let mut frame = Frame::default();
        // The fields read so far, one bit each (see `read_once`).
        let mut seen = 0u8;
        scan.ws();
        scan.eat(b'{')?;
        scan.members(|scan, key| match &*key {
            "topicName" => scan.str_once(&mut seen, 1, &mut frame.topic_name),
            "version" => scan.str_once(&mut seen, 2, &mut frame.version),
            "result" => scan.str_once(&mut seen, 4, &mut frame.result),
            "eventBody" => {
                read_once(&mut seen, 8)?;
                frame.event_body = if scan.null() {
                    None
                } else {
                    Some(scan.raw_value()?)
                };
                Some(())
            }
            "metadata" => {
                read_once(&mut seen, 16)?;
                if scan.null() {
                    return Some(());
                }
                scan.eat(b'{')?;
                scan.members(|scan, key| match &*key {
                    "CorrelationId" => scan.str_once(&mut seen, 32, &mut frame.correlation_id),
                    _ => scan.raw_value().map(drop),
                })
            }
            _ => scan.raw_value().map(drop),
        })?;
        scan.ws();
        (scan.pos == scan.bytes.len()).then_some(frame)
    }

    pub fn kind(&self) -> FrameKind {
        match self.topic_name.as_deref() {
            Some("channel.metadata") => {
                let msg = self.event_body.unwrap_or("");
                if msg.contains("\"pong\"") {
                    FrameKind::Pong
                } else if msg.contains("Heartbeat") {
                    FrameKind::Heartbeat
                } else {
                    FrameKind::Metadata
                }
            }
            Some(t) if starts_with_ignore_case(t, "v2.system.") => {
                let rest = &t["v2.system.".len()..];
                if starts_with_ignore_case(rest, "socket_closing") {
                    FrameKind::SocketClosing
                } else if starts_with_ignore_case(rest, "no_longer_subscribed") {
                    FrameKind::NoLongerSubscribed
                } else if starts_with_ignore_case(rest, "token_revoked") {
                    FrameKind::TokenRevoked
                } else {
                    FrameKind::OtherSystem
                }
            }
            Some(t) if !t.is_empty() && self.event_body.is_some() => FrameKind::Event,
            Some(_) => FrameKind::Unknown,
            None => match self.result.as_deref() {
                Some("404") => FrameKind::ChannelGone,
                Some(_) => FrameKind::SubscribeReply,
                None => FrameKind::Unknown,
            },
        }
    }

    pub fn correlation_id(&self) -> Option<&str> {
        self.correlation_id.as_deref()
    }
}

/// Marks field `bit` of `seen` as read; `None` when it was read before: a field read twice makes the frame
/// malformed, as it does for serde's derived structs (which of the two would count is anyone's guess).
fn read_once(seen: &mut u8, bit: u8) -> Option<()> {
    let again = *seen & bit != 0;
    *seen |= bit;
    (!again).then_some(())
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// A cursor over the frame's bytes. Every method returns `None` on text that is not JSON.
struct Scan<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.pos += 1)
    }

    /// `null` (after white space) is taken and true; anything else is left where it is.
    fn null(&mut self) -> bool {
        self.ws();
        if self.bytes[self.pos..].starts_with(b"null") {
            self.pos += 4;
            return true;
        }
        false
    }

    /// The members of an object whose `{` was taken, up to and with its `}`: `member` reads each value.
    fn members(
        &mut self,
        mut member: impl FnMut(&mut Self, Cow<'a, str>) -> Option<()>,
    ) -> Option<()> {
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            let key = self.str()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            member(self, key)?;
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string or `null` into `slot`, for field `bit` of `seen` (see [`read_once`]).
    fn str_once(&mut self, seen: &mut u8, bit: u8, slot: &mut Option<Cow<'a, str>>) -> Option<()> {
        read_once(seen, bit)?;
        *slot = self.opt_str()?;
        Some(())
    }

    /// A string or `null`.
    fn opt_str(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.null() {
            return Some(None);
        }
        self.str().map(Some)
    }

    /// A string: borrowed when it has no escapes, decoded by serde_json otherwise (rare in the fields read).
    fn str(&mut self) -> Option<Cow<'a, str>> {
        let start = self.pos;
        let escaped = self.skip_string()?;
        let quoted = &self.text[start..self.pos];
        if escaped {
            serde_json::from_str::<String>(quoted).ok().map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(&quoted[1..quoted.len() - 1]))
        }
    }

    /// Takes a string (its quotes included); true when it holds an escape.
    fn skip_string(&mut self) -> Option<bool> {
        self.eat(b'"')?;
        let mut escaped = false;
        loop {
            self.pos = stops::first_stop(self.bytes, self.pos)?;
            match self.bytes[self.pos] {
                b'"' => {
                    self.pos += 1;
                    return Some(escaped);
                }
                b'\\' => {
                    escaped = true;
                    self.pos += 1;
                    match self.peek()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 1,
                        b'u' => {
                            let hex = self.bytes.get(self.pos + 1..self.pos + 5)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.pos += 5;
                        }
                        _ => return None,
                    }
                }
                // An unescaped control character.
                _ => return None,
            }
        }
    }

    fn skip_number(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.').is_some() {
            self.peek().filter(u8::is_ascii_digit)?;
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.peek().filter(u8::is_ascii_digit)?;
            self.digits();
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.bytes[self.pos..]
            .starts_with(word)
            .then(|| self.pos += word.len())
    }

    /// Takes one value (after white space) and returns its text, nested at most [`MAX_JSON_DEPTH`] deep.
    /// Iterative: the kind of each open container is one bit of `objects`, so depth costs no memory.
    fn raw_value(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.pos;
        let mut objects: u128 = 0;
        let mut depth = 0usize;
        'value: loop {
            self.ws();
            match self.peek()? {
                open @ (b'{' | b'[') => {
                    self.pos += 1;
                    if depth == MAX_JSON_DEPTH {
                        return None;
                    }
                    let object = open == b'{';
                    objects = (objects & !(1 << depth)) | (u128::from(object) << depth);
                    depth += 1;
                    self.ws();
                    if self.eat(if object { b'}' } else { b']' }).is_some() {
                        depth -= 1;
                    } else {
                        if object {
                            self.key()?;
                        }
                        continue 'value;
                    }
                }
                b'"' => {
                    self.skip_string()?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                _ => self.skip_number()?,
            }
            // A value ended: close what it ended, or go on to the next one.
            loop {
                if depth == 0 {
                    return Some(&self.text[start..self.pos]);
                }
                let object = objects & (1 << (depth - 1)) != 0;
                self.ws();
                match self.peek()? {
                    b',' => {
                        self.pos += 1;
                        if object {
                            self.ws();
                            self.key()?;
                        }
                        continue 'value;
                    }
                    b'}' if object => depth -= 1,
                    b']' if !object => depth -= 1,
                    _ => return None,
                }
                self.pos += 1;
            }
        }
    }

    /// An object's key and its colon.
    fn key(&mut self) -> Option<()> {
        self.skip_string()?;
        self.ws();
        self.eat(b':')
    }
}

#[cfg(test)]
mod tests;
