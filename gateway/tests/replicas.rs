//! The query side on a hot standby (`QUERY_DATABASE_URL`): a private primary and a standby made
//! by `pg_basebackup -R` (deploy/lib/standby.sh, Debian's PostgreSQL), a gateway writing to the
//! one and reading from the other. Reads with a consistency token see their write through the
//! replica; with the replica's replay paused they fall back to the primary (never a stale page),
//! go back to the replica once it replays again, and to the primary when the standby stops.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod support;

use support::*;

/// A primary and its standby in a folder of their own; both stopped and the folder removed
/// when dropped.
struct PrimaryAndStandby {
    dir: PathBuf,
    primary: String,
    standby: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/lib/standby.sh")
}

impl PrimaryAndStandby {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("hs-standby-{}", uuid::Uuid::new_v4()));
        // Dropped (and so cleaned up) even when the start fails half-way.
        let mut pair = Self {
            dir,
            primary: String::new(),
            standby: String::new(),
        };
        let output = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(&pair.dir)
            .output()
            .expect("bash runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "standby.sh start failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        for line in stdout.lines() {
            if let Some(url) = line.strip_prefix("PRIMARY_URL=") {
                pair.primary = url.to_owned();
            } else if let Some(url) = line.strip_prefix("STANDBY_URL=") {
                pair.standby = url.to_owned();
            }
        }
        assert!(
            !pair.primary.is_empty() && !pair.standby.is_empty(),
            "{stdout}"
        );
        pair
    }
}

impl Drop for PrimaryAndStandby {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

/// A port nobody listens on now (for `METRICS_ADDR`).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn get_text(port: u16, path: &str) -> String {
    reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .expect("an answer")
        .text()
        .await
        .expect("a body")
}

/// The value of the sample `name` (labels included, as rendered), 0 when absent.
async fn metric(port: u16, name: &str) -> f64 {
    let text = get_text(port, "/metrics").await;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

async fn replica_status(port: u16) -> Value {
    let body = get_text(port, "/readyz").await;
    let ready: Value = serde_json::from_str(&body).expect("json");
    ready["replicas"][0].clone()
}

/// Polls `/readyz` until the replica's status satisfies `wanted` (10 s at most).
async fn until_replica(port: u16, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = replica_status(port).await;
        if wanted(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "replica never {what}: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Alice sends `content` to bob; bob reads his inbox with the send's token and finds it.
async fn send_and_read(client: &Client, alice: &Login, bob: &Login, content: &str) {
    let body = json!({"recipient": "bob", "content": content});
    let (status, answer, token) =
        call(client, "POST", "/api/messages/send", alice, Some(body)).await;
    assert_eq!(status, 201, "{answer}");
    assert!(!token.is_empty());
    let inbox = read(client, "/api/messages/inbox", bob, &token).await;
    assert_eq!(inbox["conversations"][0]["with"], "alice", "{inbox}");
    let last = &inbox["conversations"][0]["last_message"];
    assert!(
        last.to_string().contains(content),
        "bob's inbox shows the message just sent: {inbox}"
    );
}

const REPLICA_READS: &str = r#"hs_query_reads_total{source="replica"}"#;
const PRIMARY_READS: &str = r#"hs_query_reads_total{source="primary"}"#;
const FALLBACKS: &str = "hs_replica_fallbacks_total";

#[tokio::test]
async fn reads_with_a_token_go_to_the_standby_and_fall_back_while_it_is_paused() {
    let pair = PrimaryAndStandby::start();
    assert!(hs_admin(&pair.primary, &["migrate"]).status.success());
    assert!(hs_admin(&pair.primary, &["seed-demo"]).status.success());
    let metrics_port = free_port();
    let gateway = spawn_gateway(
        &pair.primary,
        &[
            ("QUERY_DATABASE_URL", pair.standby.clone()),
            ("METRICS_ADDR", format!("127.0.0.1:{metrics_port}")),
            ("REPLICA_POLL_MS", "100".to_owned()),
            ("REPLICA_WAIT_MS", "3000".to_owned()),
            ("REPLICA_MAX_LAG_MS", "1000".to_owned()),
        ],
    )
    .await;
    let client = Client::new(gateway.port);
    let port = gateway.port;
    let standby = until_replica(port, "reachable", |s| s["reachable"] == true).await;
    assert_eq!(standby["paused"], false, "{standby}");
    assert_eq!(standby["in_recovery"], true, "{standby}");
    let (alice, bob) = (client.login("alice").await, client.login("bob").await);

    // (a) Read-your-writes through the replica.
    send_and_read(&client, &alice, &bob, "through the standby").await;
    assert!(metric(metrics_port, REPLICA_READS).await >= 1.0);
    assert_eq!(metric(metrics_port, FALLBACKS).await, 0.0);

    // (b) Replay paused: the read with a token is answered by the primary, never stale.
    let replica_db = sqlx::PgPool::connect(&pair.standby)
        .await
        .expect("the standby answers");
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&replica_db)
        .await
        .expect("replay paused");
    until_replica(port, "paused", |s| s["paused"] == true).await;
    let primary_before = metric(metrics_port, PRIMARY_READS).await;
    send_and_read(&client, &alice, &bob, "while the standby is paused").await;
    assert_eq!(metric(metrics_port, FALLBACKS).await, 1.0);
    assert!(metric(metrics_port, PRIMARY_READS).await > primary_before);
    let behind = until_replica(port, "behind", |s| {
        s["behind_events"].as_i64().unwrap_or(0) > 0
    })
    .await;
    assert_eq!(behind["paused"], true, "{behind}");
    let behind_metric = format!(
        "hs_replica_behind_events{{replica=\"{}\"}}",
        behind["name"].as_str().expect("a name")
    );
    assert!(metric(metrics_port, &behind_metric).await > 0.0);
    // Without a token a read goes to the replica while it lags less than REPLICA_MAX_LAG_MS,
    // then to the primary.
    let (status, inbox, _) = call(&client, "GET", "/api/messages/inbox", &bob, None).await;
    assert_eq!(status, 200, "{inbox}");
    until_replica(port, "lagging", |s| s["lagging"] == true).await;
    let (primary_before, replica_before) = (
        metric(metrics_port, PRIMARY_READS).await,
        metric(metrics_port, REPLICA_READS).await,
    );
    let (status, inbox, _) = call(&client, "GET", "/api/messages/inbox", &bob, None).await;
    assert_eq!(status, 200, "{inbox}");
    assert_eq!(
        metric(metrics_port, PRIMARY_READS).await,
        primary_before + 1.0
    );
    assert_eq!(metric(metrics_port, REPLICA_READS).await, replica_before);
    assert!(
        inbox.to_string().contains("while the standby is paused"),
        "{inbox}"
    );
    // Readiness stays on the primary.
    let ready = get_text(port, "/readyz").await;
    assert!(ready.contains(r#""database":true"#), "{ready}");

    // (c) Replay resumed: reads with a token go to the replica again.
    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&replica_db)
        .await
        .expect("replay resumed");
    until_replica(port, "caught up", |s| {
        s["paused"] == false && s["behind_events"] == 0 && s["lagging"] == false
    })
    .await;
    let replica_before = metric(metrics_port, REPLICA_READS).await;
    send_and_read(&client, &alice, &bob, "after the standby resumed").await;
    assert!(metric(metrics_port, REPLICA_READS).await > replica_before);
    assert_eq!(
        metric(metrics_port, FALLBACKS).await,
        1.0,
        "no new fallback"
    );
    replica_db.close().await;

    // (d) The standby gone: every read is answered by the primary, and the gateway stays ready.
    let stopped = Command::new("bash")
        .arg(script())
        .arg("stop-standby")
        .arg(&pair.dir)
        .status()
        .expect("bash runs");
    assert!(stopped.success());
    let gone = until_replica(port, "unreachable", |s| s["reachable"] == false).await;
    let up = format!(
        "hs_replica_up{{replica=\"{}\"}}",
        gone["name"].as_str().expect("a name")
    );
    assert_eq!(metric(metrics_port, &up).await, 0.0);
    let primary_before = metric(metrics_port, PRIMARY_READS).await;
    send_and_read(&client, &alice, &bob, "with the standby down").await;
    let (status, inbox, _) = call(&client, "GET", "/api/messages/inbox", &bob, None).await;
    assert_eq!(status, 200, "{inbox}");
    assert!(metric(metrics_port, PRIMARY_READS).await >= primary_before + 2.0);
    let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .expect("an answer");
    assert_eq!(ready.status(), 200, "replicas do not decide readiness");
    drop(gateway);
}
