//! The Kafka sink: each envelope produced to a topic rendered from a template, keyed so that one entity's
//! events share a partition and keep their order, by librdkafka's idempotent producer with `acks=all`. A batch
//! counts as written only once the broker has acknowledged every record of it.
//!
//! Order and duplicates: records are handed to the producer in batch order; the idempotent producer keeps
//! them in order per partition through its own retries and adds no duplicates. What the broker holds of one
//! producer session is therefore, per partition, a prefix of what was sent. When a batch fails (a broker
//! error, or no acknowledgement within `timeout`), the producer is closed and the whole batch is sent again
//! by a new one: records that had been stored are stored again, after the ones before them, so the first
//! copy of each record is still in order. Consumers drop the copies by the `switchboard-id` header (the
//! envelope's `id`). librdkafka's own message timeout is set past `timeout`, so it never drops a record
//! of a live session (which could let a later record in before an earlier one).

use std::collections::HashSet;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use tokio::time::Instant;

use super::config::KafkaConfig;
use crate::egress::Egress;
use crate::sink::template::{Envelope, Template, envelope_id};
use crate::sink::{Delivery, Sink, SinkError};

/// The header that carries the envelope's `id`, for consumers to drop duplicates by.
pub const ID_HEADER: &str = "switchboard-id";

/// librdkafka's log lines and errors, as debug events with every secret property's value cut out: the sink
/// reports what fails (once, where it is handled), while librdkafka repeats every failed connection attempt.
#[derive(Clone, Default)]
pub struct QuietContext {
    secrets: Arc<[String]>,
}

impl QuietContext {
    fn redact(&self, text: &str) -> String {
        let mut text = text.to_string();
        for s in self.secrets.iter() {
            text = text.replace(s.as_str(), "***");
        }
        text
    }
}

impl ClientContext for QuietContext {
    fn log(&self, _level: RDKafkaLogLevel, fac: &str, line: &str) {
        tracing::debug!(target: "switchboard::sink::kafka", facility = fac, "librdkafka: {}", self.redact(line));
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(
            target: "switchboard::sink::kafka",
            error = %self.redact(&error.to_string()),
            "librdkafka: {}",
            self.redact(reason)
        );
    }
}

/// Tests read back what the sink wrote with consumers that are as quiet.
impl ConsumerContext for QuietContext {}

type Producer = FutureProducer<QuietContext>;

/// One record ready to be produced.
struct Prepared {
    topic: String,
    key: String,
    id: Option<String>,
}

/// What to do about a failed record.
enum Verdict {
    /// The record itself is at fault (too large, a topic name the broker refuses): dead-letter it.
    Reject(String),
    /// Anything else (the broker, the network, a missing topic): send the batch again.
    Retry(String),
}

fn verdict(e: &KafkaError) -> Verdict {
    use RDKafkaErrorCode as C;
    match e.rdkafka_error_code() {
        Some(
            C::MessageSizeTooLarge
            | C::InvalidMessageSize
            | C::MessageBatchTooLarge
            | C::InvalidTopic
            | C::InvalidRecord,
        ) => Verdict::Reject(e.to_string()),
        Some(C::UnknownTopic | C::UnknownTopicOrPartition) => Verdict::Retry(format!(
            "{e} (create the topic, or set create_topic = true)"
        )),
        _ => Verdict::Retry(e.to_string()),
    }
}

/// A key's placeholder value as it is: a key is any bytes.
fn verbatim(value: &str, out: &mut String) {
    out.push_str(value);
}

/// Makes a placeholder's value fit a topic name: characters other than letters, digits, `.`, `_` and `-`
/// become `_`.
fn topic_safe(value: &str, out: &mut String) {
    out.extend(value.chars().map(|c| {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            c
        } else {
            '_'
        }
    }));
}

/// Produces every record to Kafka and waits for every acknowledgement. The producer is made when the sink
/// is (so that a property librdkafka refuses is reported at once) and again after a failed batch.
pub struct KafkaSink {
    brokers: String,
    topic: Template,
    key: Option<Template>,
    create_topic: Option<(i32, i32)>,
    timeout: Duration,
    /// The producer's configuration. Holds secret properties: never printed.
    client: ClientConfig,
    /// Passes librdkafka's messages on, without secrets.
    context: QuietContext,
    producer: Option<Producer>,
    admin: Option<AdminClient<QuietContext>>,
    /// Topics created (or found to exist) by the current producer session.
    created: HashSet<String>,
}

impl KafkaSink {
    /// A sink for a validated configuration. Fails when librdkafka refuses a property; connects in the
    /// background.
    pub fn new(config: &KafkaConfig, egress: &Egress) -> io::Result<KafkaSink> {
        // The bootstrap brokers are checked by the outbound address policy before librdkafka contacts them.
        // (The brokers the cluster then announces are resolved and connected by librdkafka itself.)
        for broker in config
            .brokers
            .iter()
            .flat_map(|b| b.split(','))
            .map(str::trim)
        {
            let (host, port) = crate::egress::host_port(broker, 9092);
            egress
                .resolve_blocking(host, port)
                .map_err(|e| io::Error::other(format!("broker {broker}: {e}")))?;
        }
        let brokers = config.brokers.join(",");
        let mut client = ClientConfig::new();
        // A default the properties may change.
        client.set("client.id", "switchboard");
        for (name, value) in &config.properties.plain {
            client.set(name, value);
        }
        for (name, value) in &config.properties.secret {
            client.set(name, value.expose());
        }
        // Librdkafka must never time a record out while the sink still waits for it: see the module doc.
        let message_timeout = config.timeout * 2 + Duration::from_secs(5);
        client
            .set("bootstrap.servers", &brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set(
                "message.timeout.ms",
                message_timeout
                    .as_millis()
                    .min(i32::MAX as u128)
                    .to_string(),
            )
            .set_log_level(RDKafkaLogLevel::Warning);
        let mut sink = KafkaSink {
            topic: Template::parse(&config.topic),
            key: config.key.as_deref().map(Template::parse),
            create_topic: config.create_topic.then(|| {
                (
                    config.partitions.unwrap_or(-1),
                    config.replication.unwrap_or(-1),
                )
            }),
            timeout: config.timeout,
            client,
            context: QuietContext {
                secrets: config
                    .properties
                    .secret
                    .values()
                    .map(|s| s.expose().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            },
            producer: None,
            admin: None,
            created: HashSet::new(),
            brokers,
        };
        sink.producer = Some(sink.make_producer()?);
        Ok(sink)
    }

    /// Changes how long a batch may wait for its acknowledgements (tests use a short one).
    pub fn with_timeout(mut self, timeout: Duration) -> KafkaSink {
        self.timeout = timeout;
        self
    }

    /// A librdkafka message with every secret value cut out.
    fn redact(&self, text: impl std::fmt::Display) -> String {
        self.context.redact(&text.to_string())
    }

    fn error(&self, what: &str, e: impl std::fmt::Display) -> io::Error {
        io::Error::other(format!(
            "Kafka {}: {what}: {}",
            self.brokers,
            self.redact(e)
        ))
    }

    fn make_producer(&self) -> io::Result<Producer> {
        self.client
            .create_with_context(self.context.clone())
            .map_err(|e| self.error("the producer cannot be made", e))
    }

    fn producer(&mut self) -> io::Result<Producer> {
        if let Some(p) = &self.producer {
            return Ok(p.clone());
        }
        let p = self.make_producer()?;
        self.producer = Some(p.clone());
        Ok(p)
    }

    /// Ends the producer session: what it still holds is dropped (the batch is sent again by the next one).
    /// librdkafka's teardown may wait on the network, so it runs off the async threads when there are some.
    fn close(&mut self) {
        self.created.clear();
        let producer = self.producer.take();
        let admin = self.admin.take();
        if producer.is_none() && admin.is_none() {
            return;
        }
        let teardown = move || {
            drop(producer);
            drop(admin);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(teardown);
            }
            Err(_) => teardown(),
        }
    }

    /// The topic and key of `d`, and its id.
    fn prepare(&self, d: &Delivery) -> Prepared {
        let envelope = if self.topic.reads_envelope()
            || self.key.as_ref().is_none_or(Template::reads_envelope)
        {
            Envelope::read(&d.json)
        } else {
            Envelope::default()
        };
        let mut topic = self.topic.render(d, &envelope, topic_safe);
        topic.truncate(249);
        let key = match &self.key {
            Some(t) => t.render(d, &envelope, verbatim),
            None => match envelope.entity() {
                Some(entity) => format!("{}/{entity}", d.tenant),
                None => d.tenant.to_string(),
            },
        };
        let id = envelope_id(d.kind, &d.json).map(|id| id.into_owned());
        Prepared { topic, key, id }
    }

    /// Creates the topics of this batch the session has not seen yet (one that exists already is fine).
    async fn create_topics(&mut self, records: &[Prepared], deadline: Instant) -> io::Result<()> {
        let Some((partitions, replication)) = self.create_topic else {
            return Ok(());
        };
        let mut missing: Vec<&str> = Vec::new();
        for r in records {
            if !self.created.contains(&r.topic) && !missing.contains(&r.topic.as_str()) {
                missing.push(&r.topic);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        if self.admin.is_none() {
            // The admin client only creates topics: no idempotent producer session for it.
            let mut config = self.client.clone();
            config.set("enable.idempotence", "false");
            let admin = config
                .create_with_context(self.context.clone())
                .map_err(|e| self.error("the admin client cannot be made", e))?;
            self.admin = Some(admin);
        }
        let Some(admin) = &self.admin else {
            return Ok(());
        };
        let new: Vec<NewTopic<'_>> = missing
            .iter()
            .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(replication)))
            .collect();
        let left = deadline.saturating_duration_since(Instant::now());
        let options = AdminOptions::new()
            .request_timeout(Some(left))
            .operation_timeout(Some(left));
        let results = tokio::time::timeout_at(deadline, admin.create_topics(&new, &options))
            .await
            .map_err(|_| self.error("creating topics", "no answer in time"))?
            .map_err(|e| self.error("creating topics", e))?;
        for result in results {
            match result {
                Ok(topic) | Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    self.created.insert(topic);
                }
                Err((topic, code)) => {
                    return Err(self.error(&format!("cannot create topic {topic}"), code));
                }
            }
        }
        Ok(())
    }

    async fn produce(&mut self, batch: &[Delivery]) -> Result<(), SinkError> {
        let deadline = Instant::now() + self.timeout;
        let records: Vec<Prepared> = batch.iter().map(|d| self.prepare(d)).collect();
        self.create_topics(&records, deadline).await?;
        let producer = self.producer()?;
        let mut rejected: Vec<(usize, String)> = Vec::new();
        let mut acks: Vec<(usize, DeliveryFuture)> = Vec::with_capacity(batch.len());
        for (i, (d, r)) in batch.iter().zip(&records).enumerate() {
            let headers = match &r.id {
                Some(id) => OwnedHeaders::new_with_capacity(1).insert(Header {
                    key: ID_HEADER,
                    value: Some(id.as_bytes()),
                }),
                None => OwnedHeaders::new(),
            };
            let mut record = FutureRecord::to(&r.topic)
                .payload(&d.json[..])
                .key(r.key.as_bytes())
                .headers(headers);
            loop {
                match producer.send_result(record) {
                    Ok(ack) => {
                        acks.push((i, ack));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // librdkafka's queue is full of this batch: wait for it to drain.
                        if Instant::now() >= deadline {
                            return Err(self
                                .error("enqueue", "the producer queue stayed full")
                                .into());
                        }
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => match verdict(&e) {
                        Verdict::Reject(reason) => {
                            rejected
                                .push((i, format!("topic {}: {}", r.topic, self.redact(reason))));
                            break;
                        }
                        Verdict::Retry(reason) => {
                            return Err(self
                                .error(&format!("produce to {}", r.topic), reason)
                                .into());
                        }
                    },
                }
            }
        }
        for (i, ack) in acks {
            let topic = &records[i].topic;
            let result = tokio::time::timeout_at(deadline, ack).await.map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "Kafka {}: no acknowledgement from {topic} within {:?}",
                        self.brokers, self.timeout
                    ),
                )
            })?;
            match result {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => match verdict(&e) {
                    Verdict::Reject(reason) => {
                        rejected.push((i, format!("topic {topic}: {}", self.redact(reason))));
                    }
                    Verdict::Retry(reason) => {
                        return Err(self.error(&format!("produce to {topic}"), reason).into());
                    }
                },
                Err(_) => return Err(self.error("produce", "the producer went away").into()),
            }
        }
        if rejected.is_empty() {
            return Ok(());
        }
        let reason = rejected[0].1.clone();
        Err(SinkError::Reject {
            records: rejected.into_iter().map(|(i, _)| i).collect(),
            reason,
        })
    }
}

impl Drop for KafkaSink {
    fn drop(&mut self) {
        self.close();
    }
}

#[async_trait::async_trait]
impl Sink for KafkaSink {
    async fn write(&mut self, batch: &[Delivery]) -> Result<(), SinkError> {
        let result = self.produce(batch).await;
        if matches!(result, Err(SinkError::Retry(_))) {
            // The batch is sent again whole, by a new producer session (see the module doc).
            self.close();
        }
        result
    }

    async fn flush(&mut self) -> io::Result<()> {
        // `write` returns only once the broker has acknowledged every record.
        Ok(())
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
