//! `switchboard bench sinks`: records per second each sink takes, writing 1 KiB envelopes in batches of 1,024
//! the way a sink worker does: the file sink into a temp file, NATS JetStream on 127.0.0.1:4222 (publish,
//! then every ack), Kafka on 127.0.0.1:19092 (idempotent producer, `acks=all`, every ack awaited; topic
//! `switchboard-bench`, created if missing), and the webhook sink to a minimal local HTTP receiver (one POST
//! per record, and batched).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::{Secret, SinkConfig, SinkKind};
use crate::sink::file::FileConfig;
use crate::sink::kafka::{DEFAULT_KAFKA_TIMEOUT, KafkaConfig};
use crate::sink::nats::NatsConfig;
use crate::sink::webhook::WebhookConfig;
use crate::sink::{self, Delivery, RecordKind};

/// Options of `switchboard bench sinks`.
#[derive(Debug, Clone, clap::Args)]
pub struct SinksBenchArgs {
    /// Records written to each sink.
    #[arg(long, default_value_t = 200_000)]
    pub records: usize,
    /// The NATS server for the NATS sink (skipped when it does not answer, and the table says so).
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub nats: String,
    /// The Kafka bootstrap broker for the Kafka sink (skipped when it does not answer, and the table says so).
    #[arg(long, default_value = "127.0.0.1:19092")]
    pub kafka: String,
}

fn envelope(i: usize) -> Delivery {
    let body = "x".repeat(800);
    let json = format!(
        r#"{{"kind":"event","id":"{i:016x}","tenant":"bench","region":"custom","channelId":"streaming-0-bench","topic":"v2.users.u{}.presence","topicFamily":"v2.users.{{id}}.presence","receivedAt":"2026-11-23T10:00:00.000Z","version":"2","correlationId":"c-{i}","body":{{"padding":"{body}"}}}}"#,
        i % 100
    );
    Delivery {
        kind: RecordKind::Event,
        received_ms: None,
        tenant: Arc::from("bench"),
        json: Bytes::from(json),
    }
}

/// Answers every HTTP/1.1 request with 200, keeping connections alive.
async fn receiver() -> anyhow::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(64 * 1024);
                let mut chunk = vec![0u8; 64 * 1024];
                loop {
                    // A request: headers up to the blank line, then Content-Length bytes.
                    let head_end = loop {
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + len);
                    if conn
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    Ok(addr)
}

async fn measure(label: &str, config: SinkConfig, records: usize) -> anyhow::Result<()> {
    let mut sink = sink::open(&config, &crate::egress::Egress::unrestricted())
        .with_context(|| format!("while opening the {label} sink"))?;
    let batch: Vec<Delivery> = (0..1024).map(envelope).collect();
    let started = Instant::now();
    let mut written = 0;
    while written < records {
        let n = (records - written).min(batch.len());
        sink.write(&batch[..n])
            .await
            .map_err(|e| anyhow::anyhow!("{label}: {e:?}"))?;
        sink.flush().await?;
        written += n;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "| {label} | {:.0} records/s | {records} in {secs:.2} s |",
        records as f64 / secs
    );
    Ok(())
}

pub async fn run(args: SinksBenchArgs) -> anyhow::Result<()> {
    let dir =
        std::env::temp_dir().join(format!("switchboard-bench-sinks-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    println!("| sink | throughput | |");
    println!("|---|---|---|");
    let file = SinkKind::File(FileConfig {
        path: dir.join("events.jsonl"),
        max_bytes: 1 << 40,
        max_files: 1,
    });
    measure(
        "file (JSON lines, flushed per batch)",
        SinkConfig {
            name: "file".into(),
            kind: file,
        },
        args.records,
    )
    .await?;

    let stream = format!("BENCH_{}", uuid::Uuid::new_v4().simple());
    let nats = SinkKind::Nats(NatsConfig {
        url: args.nats.clone(),
        subject: format!("bench{}.{{tenant}}.{{kind}}", &stream[6..14]),
        stream: Some(stream.clone()),
        create_stream: true,
    });
    if let Err(e) = measure(
        "NATS JetStream (publish + ack)",
        SinkConfig {
            name: "nats".into(),
            kind: nats,
        },
        args.records,
    )
    .await
    {
        println!("| NATS JetStream | not measured | {e} |");
    } else if let Ok(client) = async_nats::connect(&args.nats).await {
        let _ = async_nats::jetstream::new(client)
            .delete_stream(&stream)
            .await;
    }

    let kafka = SinkKind::Kafka(KafkaConfig {
        brokers: vec![args.kafka.clone()],
        topic: "switchboard-bench".into(),
        key: None,
        create_topic: true,
        partitions: None,
        replication: None,
        timeout: DEFAULT_KAFKA_TIMEOUT,
        properties: Default::default(),
    });
    if let Err(e) = measure(
        "Kafka (idempotent, acks=all, every ack awaited)",
        SinkConfig {
            name: "kafka".into(),
            kind: kafka,
        },
        args.records,
    )
    .await
    {
        println!("| Kafka | not measured | {e} |");
    }

    let addr = receiver().await?;
    for (label, batch, n) in [
        (
            "webhook (one POST per record, signed)",
            false,
            args.records.min(10_000),
        ),
        ("webhook (batched POSTs, signed)", true, args.records),
    ] {
        let kind = SinkKind::Webhook(WebhookConfig {
            url: format!("http://{addr}/hook"),
            secret: Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            batch,
            timeout: Duration::from_secs(10),
            allow: vec!["127.0.0.1".into()],
        });
        measure(
            label,
            SinkConfig {
                name: "hook".into(),
                kind,
            },
            n,
        )
        .await?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
