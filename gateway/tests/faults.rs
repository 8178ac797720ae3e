//! The real gateway binary under abuse: a login flood, slow clients, requests that outlive their
//! time limit, metrics kept off the public port, and paths that try to reach past the SPA.

use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;

use support::*;

/// Sends `request` as written and returns the whole answer (`Connection: close` expected).
async fn exchange(port: u16, request: String) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    answer
}

fn login_request(username: &str, password: &str, client_ip: &str) -> String {
    let body = format!(r#"{{"username":"{username}","password":"{password}"}}"#);
    format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         X-Forwarded-For: {client_ip}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// `VmRSS` and `VmHWM` (peak) of a process, in MiB.
fn memory_mib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn seeded_gateway(options: &PgConnectOptions, env: &[(&str, String)]) -> Running {
    let url = database_url(options);
    assert!(hs_admin(&url, &["migrate"]).status.success());
    assert!(hs_admin(&url, &["seed-demo"]).status.success());
    spawn_gateway(&url, env).await
}

#[sqlx::test]
async fn a_flood_of_1200_logins_leaves_memory_bounded_and_a_real_user_gets_in(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    // Every request comes from its own address (through a trusted proxy) and names its own
    // account, so no throttle spares the password workers: this is their bound alone.
    let gateway = seeded_gateway(
        &options,
        &[
            ("TRUSTED_PROXIES", "127.0.0.1".to_owned()),
            ("RATE_LIMIT_IP_PER_SECOND", "100000".to_owned()),
            ("RATE_LIMIT_IP_BURST", "100000".to_owned()),
            ("METRICS_ADDR", "off".to_owned()),
        ],
    )
    .await;
    let pid = gateway.child.id().expect("pid");
    let port = gateway.port;
    let mut statuses = std::collections::BTreeMap::new();
    let mut real_user = None;
    for round in 0..6 {
        let attempts = (0..200).map(|i| {
            let request = login_request(
                &format!("guess{round}x{i}"),
                "not-the-password",
                &format!("198.51.{round}.{i}"),
            );
            tokio::spawn(exchange(port, request))
        });
        let attempts: Vec<_> = attempts.collect();
        if round == 2 {
            // A patient logs in while the flood runs: a busy answer asks for a retry.
            real_user = Some(tokio::spawn(async move {
                let started = Instant::now();
                loop {
                    let answer =
                        exchange(port, login_request("alice", "healing-demo", "203.0.113.9")).await;
                    match status_of(&answer) {
                        200 => return started.elapsed(),
                        503 => tokio::time::sleep(Duration::from_millis(100)).await,
                        other => panic!("alice's login answered {other}: {answer}"),
                    }
                }
            }));
        }
        for attempt in attempts {
            let answer = attempt.await.expect("task");
            *statuses.entry(status_of(&answer)).or_insert(0) += 1;
        }
    }
    let waited = real_user.expect("started").await.expect("alice got in");
    assert!(
        statuses.keys().all(|s| [401, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains_key(&503),
        "the queue bound refused some: {statuses:?}"
    );
    assert!(waited < Duration::from_secs(10), "alice waited {waited:?}");
    let (rss, peak) = memory_mib(pid);
    println!("after 1,200 logins: RSS {rss} MiB, peak {peak} MiB, answers {statuses:?}, alice in {waited:?}");
    assert!(
        rss < 150,
        "RSS {rss} MiB (peak {peak} MiB) after 1,200 logins {statuses:?}\n{}",
        gateway.output()
    );
}

#[sqlx::test]
async fn slow_clients_are_cut_off_and_others_are_still_served(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let gateway = seeded_gateway(
        &options,
        &[
            ("HEADER_READ_TIMEOUT_SECS", "1".to_owned()),
            ("METRICS_ADDR", "off".to_owned()),
        ],
    )
    .await;
    let port = gateway.port;
    // 200 clients that start a request head and never finish it.
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            .await
            .expect("write");
        slow.push(stream);
    }
    let answer = exchange(
        port,
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".to_owned(),
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut closed = 0;
    for stream in &mut slow {
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => closed += 1,
            Ok(Ok(_)) => closed += 1, // an error answer, then the close
            Err(_) => {}
        }
    }
    assert_eq!(closed, 200, "every slow client was cut off");
    // An idle keep-alive connection is closed the same way.
    let mut idle = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let mut answer = vec![0u8; 4096];
    let read = idle.read(&mut answer).await.expect("answer");
    assert!(String::from_utf8_lossy(&answer[..read]).starts_with("HTTP/1.1 200"));
    let rest = tokio::time::timeout(Duration::from_secs(3), idle.read(&mut answer)).await;
    assert!(
        matches!(rest, Ok(Ok(0)) | Ok(Err(_))),
        "idle keep-alive closed: {rest:?}"
    );
}

#[sqlx::test]
async fn a_request_past_its_time_limit_answers_503_in_the_envelope_with_security_headers(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let gateway = seeded_gateway(
        &options,
        &[
            ("REQUEST_TIMEOUT_SECS", "1".to_owned()),
            ("CONSISTENCY_WAIT_MS", "5000".to_owned()),
            ("METRICS_ADDR", "off".to_owned()),
        ],
    )
    .await;
    let client = Client::new(gateway.port);
    let alice = client.login("alice").await;
    // A token far ahead of the log: the read waits for it longer than the request may take.
    let started = Instant::now();
    let (status, headers, body) = client
        .request(
            "GET",
            "/api/messages/inbox",
            Some(&alice),
            None,
            Some("v1.ffffffff.fffffff"),
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(status.starts_with("HTTP/1.1 503"), "{status}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("envelope");
    assert_eq!(body["error"]["code"], "unavailable");
    for name in [
        "x-request-id",
        "content-security-policy",
        "x-content-type-options",
        "retry-after",
    ] {
        assert!(
            header(&headers, name).is_some(),
            "{name} missing:\n{headers}"
        );
    }
}

#[sqlx::test]
async fn metrics_live_on_their_own_listener_with_bounded_method_labels(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let gateway = seeded_gateway(&options, &[("METRICS_ADDR", "127.0.0.1:0".to_owned())]).await;
    let public = gateway.port;
    // Logged before the public listener's line, which the start-up waited for.
    let metrics_port = gateway
        .output()
        .lines()
        .find_map(|line| logged_port(line, "metrics listening"))
        .expect("metrics port logged");
    for method in ["FOO", "BAR", "BAZ"] {
        let answer = exchange(
            public,
            format!(
                "{method} /api/messages/inbox HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            ),
        )
        .await;
        assert!(status_of(&answer) >= 400, "{answer}");
    }
    let scrape = |port: u16| {
        exchange(
            port,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_owned(),
        )
    };
    let metrics = scrape(metrics_port).await;
    assert_eq!(status_of(&metrics), 200, "{metrics}");
    assert!(metrics.contains(r#"method="other""#), "{metrics}");
    for invented in ["FOO", "BAR", "BAZ"] {
        assert!(!metrics.contains(invented), "{invented} became a label");
    }
    let public_answer = scrape(public).await;
    assert!(
        !public_answer.contains("http_requests_total"),
        "metrics on the public port"
    );
}

#[sqlx::test]
async fn only_the_spa_files_are_served_however_the_path_is_spelled(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let gateway = seeded_gateway(&options, &[("METRICS_ADDR", "off".to_owned())]).await;
    let get = |path: &str| {
        exchange(
            gateway.port,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
    };
    for path in [
        "/%65%32%65/mock-api.mjs",
        "//e2e/flows.test.mjs",
        "/./e2e/package.json",
        "/e2e/support.mjs",
        "/README.md",
        "/.gitignore",
        "/js/../README.md",
        "/%2e%2e/Cargo.toml",
    ] {
        let answer = get(path).await;
        assert_eq!(status_of(&answer), 404, "{path}: {answer}");
        assert!(answer.contains(r#""code":"not_found""#), "{path}: {answer}");
    }
    for path in ["/", "/inbox", "/js/main.js", "/styles.css", "/favicon.svg"] {
        let answer = get(path).await;
        assert_eq!(status_of(&answer), 200, "{path}");
    }
}
