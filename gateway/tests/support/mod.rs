//! What the gateway's black-box tests share: the real binaries started on port 0 against the
//! test's own database, and a small HTTP/1.1 client.
#![allow(dead_code)] // each test binary uses its own share

use std::path::Path;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

pub fn web_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web")
}

/// The URL of the test's own database.
pub fn database_url(options: &PgConnectOptions) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let base = base.split('?').next().unwrap_or(&base);
    let (server, _) = base.rsplit_once('/').expect("a database path");
    format!(
        "{server}/{}",
        options.get_database().expect("database name")
    )
}

/// A running binary, killed when dropped. Its output (JSON log lines) is kept for failure
/// messages.
pub struct Running {
    pub child: Child,
    pub output: Arc<Mutex<String>>,
    /// The port its "... listening" log line reported.
    pub port: u16,
}

impl Running {
    /// Everything the process has written so far.
    pub fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }
}

/// How long a binary may take to report its port (it connects and applies migrations first).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts `program` on the database `url` with JSON logs and, when `listening` names its log
/// message, waits for that line and reads the bound port from it (the binaries bind port 0 in
/// tests): once it is logged the listener accepts, so no polling is needed.
pub async fn spawn(
    program: &Path,
    args: &[&str],
    url: &str,
    env: &[(&str, String)],
    listening: Option<&str>,
) -> Running {
    let mut command = Command::new(program);
    command
        .args(args)
        .env("DATABASE_URL", url)
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("process starts");
    let output = Arc::new(Mutex::new(String::new()));
    let (port_tx, mut port_rx) = tokio::sync::mpsc::unbounded_channel();
    let stdout = child
        .stdout
        .take()
        .map(|s| Box::pin(s) as Pin<Box<dyn AsyncRead + Send>>);
    let stderr = child
        .stderr
        .take()
        .map(|s| Box::pin(s) as Pin<Box<dyn AsyncRead + Send>>);
    for stream in [stdout, stderr].into_iter().flatten() {
        let (output, port_tx) = (output.clone(), port_tx.clone());
        let listening = listening.map(str::to_owned);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut all) = output.lock() {
                    all.push_str(&line);
                    all.push('\n');
                }
                if let Some(port) = listening.as_deref().and_then(|m| logged_port(&line, m)) {
                    let _ = port_tx.send(port);
                }
            }
        });
    }
    drop(port_tx);
    let port = match listening {
        None => 0,
        Some(message) => match tokio::time::timeout(START_TIMEOUT, port_rx.recv()).await {
            Ok(Some(port)) => port,
            waited => {
                let status = child.try_wait();
                let all = output.lock().map(|o| o.clone()).unwrap_or_default();
                panic!(
                    "{} never logged `{message}` ({waited:?}, {status:?}):\n{all}",
                    program.display()
                )
            }
        },
    };
    Running {
        child,
        output,
        port,
    }
}

/// The `port` of a JSON log line whose message is `message`.
pub fn logged_port(line: &str, message: &str) -> Option<u16> {
    let event: serde_json::Value = serde_json::from_str(line).ok()?;
    if event["message"] != message {
        return None;
    }
    event["port"].as_u64().and_then(|p| u16::try_from(p).ok())
}

/// The real gateway binary on a port of its choosing, serving the SPA of this checkout.
pub async fn spawn_gateway(url: &str, env: &[(&str, String)]) -> Running {
    let mut all = vec![
        ("PORT", "0".to_owned()),
        ("WEB_DIR", web_dir().display().to_string()),
        // Tests run side by side: none takes the default metrics port unless it asks.
        ("METRICS_ADDR", "off".to_owned()),
    ];
    all.extend_from_slice(env);
    spawn(
        Path::new(env!("CARGO_BIN_EXE_gateway")),
        &[],
        url,
        &all,
        Some("gateway listening"),
    )
    .await
}

/// Split mode on a migrated and seeded database: the two services, the projector and a gateway
/// forwarding to them, as four processes.
pub struct Split {
    pub commands: Running,
    pub queries: Running,
    pub projector: Running,
    pub gateway: Running,
}

pub async fn spawn_split(url: &str) -> Split {
    assert!(hs_admin(url, &["migrate"]).status.success());
    assert!(hs_admin(url, &["seed-demo"]).status.success());
    let trusted = ("TRUSTED_PROXIES", "127.0.0.1".to_owned());
    let commands = spawn(
        &sibling_binary("command-service"),
        &[],
        url,
        &[trusted.clone(), ("COMMAND_ADDR", "127.0.0.1:0".to_owned())],
        Some("command service listening"),
    )
    .await;
    let queries = spawn(
        &sibling_binary("query-service"),
        &[],
        url,
        &[trusted, ("QUERY_PORT", "0".to_owned())],
        Some("query service listening"),
    )
    .await;
    let projector = spawn(&sibling_binary("projector"), &["run"], url, &[], None).await;
    let gateway = spawn_gateway(
        url,
        &[
            (
                "COMMAND_UPSTREAM",
                format!("http://127.0.0.1:{}", commands.port),
            ),
            (
                "QUERY_UPSTREAM",
                format!("http://127.0.0.1:{}", queries.port),
            ),
        ],
    )
    .await;
    Split {
        commands,
        queries,
        projector,
        gateway,
    }
}

pub fn hs_admin(url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_hs-admin"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("NEW_PASSWORD", "a-long-password")
        .output()
        .expect("hs-admin runs")
}

pub struct Client {
    pub port: u16,
}

/// What [`Client::alice_writes_and_bob_reads`] saw.
pub struct Exchange {
    /// The `X-Request-Id` of alice's send.
    pub request_id: String,
    /// Bob's inbox, read with the send's consistency token.
    pub inbox: serde_json::Value,
}

pub struct Login {
    pub cookie: String,
    pub csrf: String,
}

pub fn header(headers: &str, name: &str) -> Option<String> {
    headers.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

impl Client {
    pub fn new(port: u16) -> Self {
        Self { port }
    }

    /// Alice sends `body`; bob reads his inbox with her consistency token and finds her there
    /// (read-your-writes across users once projected).
    pub async fn alice_writes_and_bob_reads(&self, body: &str) -> Exchange {
        let alice = self.login("alice").await;
        let bob = self.login("bob").await;
        let (status, headers, answer) = self
            .request("POST", "/api/messages/send", Some(&alice), Some(body), None)
            .await;
        assert!(status.starts_with("HTTP/1.1 201"), "{status} {answer}");
        let token = header(&headers, "x-consistency-token").expect("token");
        let request_id = header(&headers, "x-request-id").expect("request id");
        let (status, _, answer) = self
            .request("GET", "/api/messages/inbox", Some(&bob), None, Some(&token))
            .await;
        assert!(status.starts_with("HTTP/1.1 200"), "{status} {answer}");
        let inbox: serde_json::Value = serde_json::from_str(&answer).expect("json");
        assert_eq!(inbox["conversations"][0]["with"], "alice", "{answer}");
        Exchange { request_id, inbox }
    }

    /// One HTTP/1.1 request; returns (status line, header block, body).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        session: Option<&Login>,
        body: Option<&str>,
        consistency: Option<&str>,
    ) -> (String, String, String) {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect");
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        if let Some(login) = session {
            request.push_str(&format!(
                "Cookie: {}\r\nX-CSRF-Token: {}\r\n",
                login.cookie, login.csrf
            ));
        }
        if let Some(token) = consistency {
            request.push_str(&format!("X-Consistency-Token: {token}\r\n"));
        }
        let body = body.unwrap_or("");
        if !body.is_empty() {
            request.push_str("Content-Type: application/json\r\n");
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
        (status.to_owned(), headers.to_owned(), body.to_owned())
    }

    pub async fn login(&self, username: &str) -> Login {
        let body = format!(r#"{{"username":"{username}","password":"healing-demo"}}"#);
        let (status, headers, body) = self
            .request("POST", "/api/auth/login", None, Some(&body), None)
            .await;
        assert!(status.starts_with("HTTP/1.1 200"), "{status} {body}");
        let cookie = header(&headers, "set-cookie")
            .and_then(|c| c.split(';').next().map(str::to_owned))
            .expect("cookie");
        let json: serde_json::Value = serde_json::from_str(&body).expect("json");
        Login {
            cookie,
            csrf: json["csrf_token"].as_str().expect("csrf").to_owned(),
        }
    }
}

/// A binary of another workspace package, built beside this package's (deploy/test.sh builds
/// every binary first).
pub fn sibling_binary(name: &str) -> std::path::PathBuf {
    let gateway = std::path::Path::new(env!("CARGO_BIN_EXE_gateway"));
    let path = gateway.with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (deploy/test.sh does)",
        path.display()
    );
    path
}

/// The gateway's router in single-process mode over `pool`.
pub fn router(pool: PgPool) -> axum::Router {
    let edge = http_edge::Edge::new(pool.clone(), http_edge::EdgeSettings::default());
    let commands = command_service::CommandState::new(
        pool.clone(),
        edge.clone(),
        command_service::CommitSignal::default(),
    );
    let config = query_service::pg_config_from_sqlx(&pool.connect_options());
    let queries = query_service::QueryState::new(
        edge,
        query_service::read_pool(config.clone(), 4).expect("read pool"),
        query_service::ProgressTracker::start(config, None),
        query_service::CursorKey::random(),
        Duration::from_secs(5),
    );
    gateway::router(
        gateway::Backend::Local(commands, queries),
        pool,
        &web_dir(),
        64 * 1024,
    )
}

// JSON calls through the real gateway, as its clients make them.

/// The seeded demo database and a gateway on it with `env`.
pub async fn seeded_gateway(
    options: &PgConnectOptions,
    env: &[(&str, &str)],
) -> (String, Running, Client) {
    let url = database_url(options);
    assert!(hs_admin(&url, &["migrate"]).status.success());
    assert!(hs_admin(&url, &["seed-demo"]).status.success());
    let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    let gateway = spawn_gateway(&url, &env).await;
    let client = Client::new(gateway.port);
    (url, gateway, client)
}

/// One request; the status code and the JSON body (`Null` when empty).
pub async fn call(
    client: &Client,
    method: &str,
    path: &str,
    session: &Login,
    body: Option<Value>,
) -> (u16, Value, String) {
    let body = body.map(|b| b.to_string());
    let (status, headers, answer) = client
        .request(method, path, Some(session), body.as_deref(), None)
        .await;
    let code = status
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let json = serde_json::from_str(&answer).unwrap_or(Value::Null);
    let token = header(&headers, "x-consistency-token").unwrap_or_default();
    (code, json, token)
}

/// A read that waits for `token` (the effect of the caller's last command).
pub async fn read(client: &Client, path: &str, session: &Login, token: &str) -> Value {
    let (status, _, answer) = client
        .request(
            "GET",
            path,
            Some(session),
            None,
            Some(token).filter(|t| !t.is_empty()),
        )
        .await;
    assert!(
        status.starts_with("HTTP/1.1 200"),
        "{path}: {status} {answer}"
    );
    serde_json::from_str(&answer).expect("json")
}

/// A POST with an `Idempotency-Key`; the status and the JSON body.
pub async fn keyed_post(
    client: &Client,
    path: &str,
    session: &Login,
    key: &str,
    body: &Value,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}{path}", client.port))
        .header("cookie", &session.cookie)
        .header("x-csrf-token", &session.csrf)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("answer");
    let status = response.status().as_u16();
    (
        status,
        response.json::<Value>().await.unwrap_or(Value::Null),
    )
}

pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}
