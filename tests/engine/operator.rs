//! What an operator meets first: log lines a shipper can read, a CLI whose errors say what to change and
//! whose output is for people, a tail that ends quietly in a pipe, and a demo that says which flag frees a
//! taken port.

use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use switchboard::sim::workload::Family;

use crate::harness::*;

const ADMIN: &str = "admin-token-0123456789";

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.env_remove("SWITCHBOARD_URL")
        .env_remove("SWITCHBOARD_TOKEN")
        .env_remove("SWITCHBOARD_LOG_FORMAT")
        .env_remove("NO_COLOR")
        .kill_on_drop(true);
    cmd
}

/// An engine for `acme` on `topics` with the admin API (and a master key, so tenants can change through
/// it), live; its admin API's base URL.
async fn live_engine(sim: &Sim, topics: &[String]) -> (RunningEngine, String) {
    let App { engine, .. } = App::builder(sim)
        .tenant("acme", topics)
        .client("demo", "secret")
        .sink_file()
        .admin_token(ADMIN)
        .master_key()
        .start();
    wait_live(&engine, "acme", 1).await;
    let url = format!("http://{}", engine.admin_addr.unwrap());
    (engine, url)
}

/// Runs `serve` for `acme` on `topics` with a file sink, its configuration and store in `scratch` (a fresh
/// store logs its seeding), logging at info in `format` to a pipe (`child.stderr`).
fn spawn_serve_logging(
    sim: &Sim,
    scratch: &Scratch,
    topics: &[String],
    format: &str,
) -> tokio::process::Child {
    let text = App::builder(sim)
        .scratch(scratch)
        .tenant("acme", topics)
        .client("demo", "secret")
        .sink_file()
        .text();
    let config = scratch.0.join("serve.toml");
    std::fs::write(&config, text).unwrap();
    bin()
        .args(["serve", "--log-format", format, "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .env_remove("SWITCHBOARD_STORE")
        .env_remove("SWITCHBOARD_ADMIN_LISTEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `serve` (see [`spawn_serve_logging`]) with the given log format and returns the first log lines it
/// writes to a pipe.
async fn serve_log_lines(sim: &Sim, format: &str, n: usize) -> Vec<String> {
    let topics = sim.topics(&["presence"]).await;
    let scratch = Scratch::new();
    let mut child = spawn_serve_logging(sim, &scratch, &topics, format);
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut lines = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        while lines.len() < n {
            match stderr.next_line().await.unwrap() {
                // The serve command's own words ("switchboard serving") are not log lines.
                Some(line) if line.starts_with("switchboard ") => {}
                Some(line) => lines.push(line),
                None => break,
            }
        }
    })
    .await
    .expect("serve logs within the patience");
    child.kill().await.unwrap();
    lines
}

/// Reads the first line a child writes to standard output, then closes the pipe as `head -1` does.
async fn first_line_then_close(stdout: tokio::process::ChildStdout) -> String {
    let mut stdout = BufReader::new(stdout);
    let mut first = String::new();
    tokio::time::timeout(PATIENCE, stdout.read_line(&mut first))
        .await
        .expect("a line within the patience")
        .unwrap();
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_plain_text_in_a_pipe_and_json_objects_when_asked() {
    let sim = Sim::start(|c| c.workload.users = 3);
    // Seeding the sink and the route, then the channel: three lines at info.
    let text = serve_log_lines(&sim, "text", 3).await;
    assert_eq!(text.len(), 3, "{text:?}");
    for line in &text {
        assert!(
            !line.contains('\x1b'),
            "no escape codes in a pipe: {line:?}"
        );
        assert!(line.contains("INFO") || line.contains("WARN"), "{line:?}");
    }

    let json_lines = serve_log_lines(&sim, "json", 3).await;
    assert_eq!(json_lines.len(), 3, "{json_lines:?}");
    for line in &json_lines {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("each line is one JSON object ({e}): {line:?}"));
        assert!(v["timestamp"].is_string(), "{line}");
        assert!(v["level"].is_string(), "{line}");
        assert!(
            v["target"].as_str().unwrap().starts_with("switchboard"),
            "{line}"
        );
        assert!(v["fields"]["message"].is_string(), "{line}");
    }
    let channel_line: Value = serde_json::from_str(&json_lines[2]).unwrap();
    assert_eq!(
        (
            &channel_line["span"]["name"],
            &channel_line["span"]["tenant"]
        ),
        (&json!("channel"), &json!("acme")),
        "the channel's line carries its span's fields: {channel_line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tail_piped_into_head_ends_quietly() {
    let sim = Sim::start(|c| {
        c.workload.users = 5;
        c.workload.rate_per_second = 200.0;
    });
    let topics = sim.topics(&["presence", "routingStatus"]).await;
    let (engine, url) = live_engine(&sim, &topics).await;
    let mut tail = bin()
        .args(["tail", "acme", "--url", &url, "--token", ADMIN])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = first_line_then_close(tail.stdout.take().unwrap()).await;
    assert!(first.starts_with('{'), "{first}");
    let mut stderr = String::new();
    tail.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    let status = tokio::time::timeout(PATIENCE, tail.wait())
        .await
        .expect("the tail ends once its reader is gone")
        .unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.trim().is_empty(), "ends quietly: {stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert!(
        status.success() || status.signal() == Some(libc::SIGPIPE),
        "{status:?}"
    );
    engine.stop();
}

/// A log reader that goes away (a shipper that died, `serve 2>&1 | head`) costs the engine nothing: the lines
/// it cannot write are dropped. Before, each one was a panic inside the actor that logged it, and the panic
/// in the shutdown task left `serve` waiting forever after SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_loses_nothing_and_stops_cleanly_after_its_log_reader_is_gone() {
    let sim = Sim::start(|c| {
        c.workload.users = 20;
        c.workload.families = vec![Family::Presence, Family::RoutingStatus];
    });
    let topics = sim.topics(&["presence", "routingStatus"]).await;
    let scratch = Scratch::new();
    let mut child = spawn_serve_logging(&sim, &scratch, &topics, "text");
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    tokio::time::timeout(PATIENCE, async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if line.contains("channel ready") {
                return;
            }
        }
        panic!("serve ended before its channel was ready");
    })
    .await
    .expect("the channel ready within the patience");
    // The reader goes away: every later log line meets a closed pipe.
    drop(stderr);

    // A move to a new socket: the channel logs as it goes.
    socket_closing_mid_flow(&sim, &scratch).await;
    produce(&sim, 300.0, 300).await;
    let v = settle(&sim, &scratch, &topics).await;
    assert_complete(&v);
    assert_eq!(v.gaps, 0, "no channel crashed on a log line");
    assert_eq!(v.delivered_once, v.happened);

    unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGTERM) };
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("serve stops within the patience of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// `switchboard demo | head`: once the reader has gone, the demo stops as Ctrl-C would stop it, without a
/// panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_piped_into_head_stops_quietly() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap().to_string();
    drop(free);
    let scratch = Scratch::new();
    let mut demo = bin()
        .args(["demo", "--seconds", "120", "--admin", &addr, "--dir"])
        .arg(&**scratch.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = first_line_then_close(demo.stdout.take().unwrap()).await;
    assert!(first.contains("switchboard demo"), "{first:?}");
    let mut stderr = String::new();
    let status = tokio::time::timeout(PATIENCE, async {
        demo.stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await
            .unwrap();
        demo.wait().await.unwrap()
    })
    .await
    .expect("the demo stops within the patience once its reader is gone");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(status.success(), "{status:?}: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_on_a_taken_port_says_so_in_one_line_with_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let scratch = Scratch::new();
    let out = bin()
        .args(["demo", "--seconds", "2", "--admin", &addr, "--dir"])
        .arg(&**scratch.0)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&addr) && stderr.contains("already in use") && stderr.contains("--admin"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_errors_name_the_address_the_cause_and_the_flag() {
    // Nothing listens on a port just freed.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let out = bin()
        .args(["status", "--url", &url])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&url)
            && stderr.to_lowercase().contains("refused")
            && stderr.contains("--url"),
        "{stderr}"
    );

    let sim = Sim::start(|c| c.workload.users = 3);
    let topics = sim.topics(&["presence"]).await;
    let (engine, url) = live_engine(&sim, &topics).await;
    let out = bin()
        .args(["status", "--url", &url])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("401")
            && stderr.contains("--token")
            && stderr.contains("SWITCHBOARD_TOKEN"),
        "{stderr}"
    );
    let out = bin()
        .args(["status", "--url", &url, "--token", "not-a-token"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not accepted") && stderr.contains("--token"),
        "{stderr}"
    );

    // An API body with a field missing: the project's error body, naming the field.
    let res = reqwest::Client::new()
        .post(format!("{url}/v1/tenants"))
        .bearer_auth(ADMIN)
        .json(&json!({"id": "globex", "apiBase": sim.base(), "loginBase": sim.base(), "clients": [{"secret": "s"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "invalid");
    assert_eq!(
        body["details"],
        json!(["clients[0].id: is required"]),
        "{body}"
    );
    engine.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_sentences_and_tables_and_reads_the_audit_log_and_dead_letters() {
    let sim = Sim::start(|c| c.workload.users = 4);
    let topics = sim.topics(&["presence"]).await;
    let (engine, url) = live_engine(&sim, &topics[..2]).await;
    let run = |args: Vec<String>| {
        let url = url.clone();
        async move {
            let out = bin()
                .args(&args)
                .args(["--url", &url, "--token", ADMIN])
                .output()
                .await
                .unwrap();
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        }
    };
    let added = run(vec![
        "topics".into(),
        "add".into(),
        "acme".into(),
        topics[2].clone(),
        topics[3].clone(),
    ])
    .await;
    assert!(
        added.starts_with("2 topic(s) added; channels: ") && !added.contains('{'),
        "a sentence, not JSON: {added}"
    );

    let audit = run(vec![
        "audit".into(),
        "--target".into(),
        "tenants/acme".into(),
    ])
    .await;
    let header = audit.lines().next().unwrap();
    assert!(
        header.starts_with("AT") && header.contains("ACTION"),
        "{audit}"
    );
    let entry = audit
        .lines()
        .find(|l| l.contains("topics.add"))
        .unwrap_or_else(|| panic!("{audit}"));
    assert!(
        entry.contains("count=2") && entry.contains(&topics[2]) && entry.contains(&topics[3]),
        "the entry names the topics: {entry}"
    );
    let audit_json: Value =
        serde_json::from_str(&run(vec!["audit".into(), "--json".into()]).await).unwrap();
    let added = audit_json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "topics.add")
        .unwrap();
    assert_eq!(added["details"]["topics"], json!([topics[2], topics[3]]));

    let letters = run(vec!["dead-letters".into(), "list".into(), "file".into()]).await;
    assert_eq!(
        letters.trim(),
        "AT  TENANT  KIND  RECORD  REASON",
        "{letters}"
    );
    let replayed = run(vec!["dead-letters".into(), "replay".into(), "file".into()]).await;
    assert_eq!(replayed.trim(), "0 dead letter(s) of sink file sent again");
    engine.stop();
}

/// A gap's length in the `gaps` table, and the status table's last frame as an age.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_ages_and_gaps_show_their_length() {
    let sim = Sim::start(|c| c.workload.users = 3);
    let topics = sim.topics(&["presence"]).await;
    let (engine, url) = live_engine(&sim, &topics).await;
    sim.inject(fault(FaultKind::Drop)).await;
    let api = reqwest::Client::new();
    wait_until("a gap is recorded", || async {
        let gaps: Value = api
            .get(format!("{url}/v1/gaps"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        gaps.as_array().is_some_and(|g| !g.is_empty())
    })
    .await;
    let out = bin()
        .args(["gaps", "--url", &url, "--token", ADMIN])
        .output()
        .await
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.lines().next().unwrap().contains("LENGTH"), "{table}");
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    // TENANT FROM TO LENGTH ...: the length is a number of (milli)seconds.
    assert_eq!(row[0], "acme", "{table}");
    assert!(
        row[3].starts_with(|c: char| c.is_ascii_digit()) && row[3].ends_with('s'),
        "{table}"
    );
    wait_live(&engine, "acme", 1).await;
    wait_until("a frame after the reconnect", || async {
        let out = bin()
            .args(["status", "--url", &url, "--token", ADMIN])
            .output()
            .await
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains("s ago")
    })
    .await;
    engine.stop();
}
