//! Live notifications through the real gateway (`GET /api/notifications/stream`): who receives
//! what, resuming after a disconnect and after a restart, the per-user and per-process limits,
//! the end of streams on SIGTERM, and split mode (the gateway proxies the stream as it comes).

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

mod support;

use support::*;

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
struct SseEvent {
    event: String,
    id: Option<String>,
    data: String,
}

impl SseEvent {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).expect("JSON data")
    }
}

/// An open stream, read as its chunks arrive.
struct Stream {
    response: reqwest::Response,
    buffer: String,
    /// Everything received, comments included (for the privacy check).
    raw: String,
}

/// What opening a stream answered.
enum Opened {
    Stream(Box<Stream>),
    Refused(u16, String),
}

async fn open(port: u16, session: &Login, last_event_id: Option<&str>) -> Opened {
    let mut request = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/notifications/stream"))
        .header("cookie", &session.cookie);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    if status != 200 {
        let body = response.text().await.unwrap_or_default();
        return Opened::Refused(status, body);
    }
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    Opened::Stream(Box::new(Stream {
        response,
        buffer: String::new(),
        raw: String::new(),
    }))
}

async fn stream(port: u16, session: &Login, last_event_id: Option<&str>) -> Stream {
    match open(port, session, last_event_id).await {
        Opened::Stream(stream) => *stream,
        Opened::Refused(status, body) => panic!("stream refused: {status} {body}"),
    }
}

impl Stream {
    /// The next event with a name (comments and the `retry` preamble are skipped), or `None`
    /// when none arrives within `wait` or the stream ends.
    async fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    event: String::new(),
                    id: None,
                    data: String::new(),
                };
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        event.event = value.trim().to_owned();
                    } else if let Some(value) = line.strip_prefix("id:") {
                        event.id = Some(value.trim().to_owned());
                    } else if let Some(value) = line.strip_prefix("data:") {
                        event.data.push_str(value.trim_start());
                    }
                }
                if !event.event.is_empty() {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .ok()??;
            let text = String::from_utf8_lossy(&chunk).replace("\r\n", "\n");
            self.raw.push_str(&text);
            self.buffer.push_str(&text);
        }
    }

    /// The next event, which must come within 5 s.
    async fn expect(&mut self) -> SseEvent {
        self.next(Duration::from_secs(5))
            .await
            .expect("an event within 5 s")
    }

    /// Whether the server has ended the stream (within `wait`).
    async fn ended(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return false,
                Ok(Ok(Some(_))) => {}
                Ok(Ok(None) | Err(_)) => return true,
            }
        }
    }
}

async fn seeded_gateway(options: &PgConnectOptions, env: &[(&str, String)]) -> (String, Running) {
    let url = database_url(options);
    assert!(hs_admin(&url, &["migrate"]).status.success());
    assert!(hs_admin(&url, &["seed-demo"]).status.success());
    let gateway = spawn_gateway(&url, env).await;
    (url, gateway)
}

/// `from` sends `body` (JSON) to `/api/messages/send`; the new message's id.
async fn send(
    client: &Client,
    from: &Login,
    recipient: &str,
    subject: &str,
    content: &str,
) -> String {
    let body = serde_json::json!({"recipient": recipient, "subject": subject, "content": content});
    let (status, _, answer) = client
        .request(
            "POST",
            "/api/messages/send",
            Some(from),
            Some(&body.to_string()),
            None,
        )
        .await;
    assert!(status.starts_with("HTTP/1.1 201"), "{status} {answer}");
    let json: serde_json::Value = serde_json::from_str(&answer).expect("json");
    json["message_id"].as_str().expect("id").to_owned()
}

async fn call(client: &Client, method: &str, path: &str, session: &Login) -> String {
    let (status, _, answer) = client
        .request(method, path, Some(session), None, None)
        .await;
    format!("{status} {answer}")
}

#[sqlx::test]
async fn each_user_hears_only_of_their_own_messages_and_never_their_content(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (_url, gateway) = seeded_gateway(&options, &[]).await;
    let client = Client::new(gateway.port);
    let (alice, bob, dave) = (
        client.login("alice").await,
        client.login("bob").await,
        client.login("dr_dave").await,
    );
    let mut bob_stream = stream(gateway.port, &bob, None).await;
    let mut alice_stream = stream(gateway.port, &alice, None).await;
    let mut dave_stream = stream(gateway.port, &dave, None).await;

    let first = send(&client, &alice, "bob", "Secret subject", "Secret content").await;
    let message = bob_stream.expect().await;
    assert_eq!(message.event, "message");
    let data = message.json();
    assert_eq!(data["message_id"], first.as_str());
    assert_eq!(data["sender"], "alice");
    assert_eq!(data["display_name"], "Alice Anders");
    assert_eq!(data["total_unread"], 1);
    assert!(data["sent_at"].is_string());
    let keys: Vec<&String> = data.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        [
            "display_name",
            "message_id",
            "sender",
            "sent_at",
            "total_unread"
        ]
    );
    assert!(message.id.is_some(), "every notification has an id");
    // By the time the event arrives the inbox shows the message.
    let inbox = call(&client, "GET", "/api/messages/inbox", &bob).await;
    assert!(inbox.contains(&first), "{inbox}");

    assert!(call(
        &client,
        "PATCH",
        &format!("/api/messages/{first}/read"),
        &bob
    )
    .await
    .starts_with("HTTP/1.1 200"));
    let read = alice_stream.expect().await;
    assert_eq!(read.event, "read");
    assert_eq!(read.json()["message_id"], first.as_str());
    assert_eq!(read.json()["reader"], "bob");
    assert!(read.json()["read_at"].is_string());
    let unread = bob_stream.expect().await;
    assert_eq!(
        (
            unread.event.as_str(),
            unread.json()["total_unread"].as_i64()
        ),
        ("unread", Some(0))
    );

    // Reading again records nothing new, so nobody hears of it.
    call(
        &client,
        "PATCH",
        &format!("/api/messages/{first}/read"),
        &bob,
    )
    .await;
    // A second message deleted unread: the badge drops through an `unread` event.
    let second = send(&client, &alice, "bob", "Another", "More secret words").await;
    assert_eq!(bob_stream.expect().await.json()["total_unread"], 1);
    assert!(
        call(&client, "DELETE", &format!("/api/messages/{second}"), &bob)
            .await
            .starts_with("HTTP/1.1 204")
    );
    let dropped = bob_stream.expect().await;
    assert_eq!(
        (
            dropped.event.as_str(),
            dropped.json()["total_unread"].as_i64()
        ),
        ("unread", Some(0))
    );

    // A third user hears nothing of any of it; the sender hears nothing of her own sends.
    assert_eq!(dave_stream.next(Duration::from_millis(500)).await, None);
    assert_eq!(alice_stream.next(Duration::from_millis(200)).await, None);
    for raw in [&bob_stream.raw, &alice_stream.raw, &dave_stream.raw] {
        assert!(!raw.contains("Secret") && !raw.contains("secret"), "{raw}");
        assert!(!raw.contains("Another"), "{raw}");
    }
}

#[sqlx::test]
async fn a_stream_resumes_after_a_disconnect_and_after_a_restart(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (url, gateway) = seeded_gateway(&options, &[]).await;
    let client = Client::new(gateway.port);
    let (alice, bob) = (client.login("alice").await, client.login("bob").await);
    let mut first = stream(gateway.port, &bob, None).await;
    send(&client, &alice, "bob", "one", "1").await;
    let seen = first.expect().await.id.expect("id");
    drop(first);

    // Missed while disconnected: arrive first, in order, then the live ones.
    let missed = [
        send(&client, &alice, "bob", "two", "2").await,
        send(&client, &alice, "bob", "three", "3").await,
    ];
    let mut resumed = stream(gateway.port, &bob, Some(&seen)).await;
    for (expected, total) in missed.iter().zip([2, 3]) {
        let event = resumed.expect().await;
        assert_eq!(event.json()["message_id"], expected.as_str());
        assert_eq!(event.json()["total_unread"], total);
    }
    let live = send(&client, &alice, "bob", "four", "4").await;
    let event = resumed.expect().await;
    assert_eq!(event.json()["message_id"], live.as_str());
    let last = event.id.expect("id");
    assert_eq!(
        resumed.next(Duration::from_millis(300)).await,
        None,
        "nothing twice"
    );
    drop(resumed);

    // A restart loses nothing: the feed is in PostgreSQL.
    drop(gateway);
    let gateway = spawn_gateway(&url, &[]).await;
    let client = Client::new(gateway.port);
    let (alice, bob) = (client.login("alice").await, client.login("bob").await);
    let during = send(&client, &alice, "bob", "five", "5").await;
    let mut after_restart = stream(gateway.port, &bob, Some(&last)).await;
    let event = after_restart.expect().await;
    assert_eq!(event.json()["message_id"], during.as_str());
    assert_eq!(event.json()["total_unread"], 5);

    // A malformed id is refused, not ignored.
    match open(gateway.port, &bob, Some("not-an-id")).await {
        Opened::Refused(status, body) => {
            assert_eq!(status, 400);
            assert!(body.contains("invalid_input"), "{body}");
        }
        Opened::Stream(_) => panic!("a malformed Last-Event-ID must be refused"),
    }
}

#[sqlx::test]
async fn a_sixth_stream_closes_the_oldest_and_stream_max_bounds_the_process(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (_url, gateway) = seeded_gateway(&options, &[("STREAM_MAX", "6".to_owned())]).await;
    let client = Client::new(gateway.port);
    let (alice, bob) = (client.login("alice").await, client.login("bob").await);
    let mut streams = Vec::new();
    for _ in 0..5 {
        streams.push(stream(gateway.port, &bob, None).await);
    }
    let mut sixth = stream(gateway.port, &bob, None).await;
    let closed = streams[0].expect().await;
    assert_eq!(closed.event, "closed");
    assert_eq!(closed.json()["reason"], "replaced");
    assert!(streams[0].ended(Duration::from_secs(2)).await);
    // The five left all hear of a message.
    send(&client, &alice, "bob", "hello", "to every tab").await;
    for stream in streams.iter_mut().skip(1).chain([&mut sixth]) {
        assert_eq!(stream.expect().await.event, "message");
    }
    // Bob holds five: one more user fits within STREAM_MAX=6, the next does not.
    let _alice_stream = stream(gateway.port, &alice, None).await;
    let dave = client.login("dr_dave").await;
    match open(gateway.port, &dave, None).await {
        Opened::Refused(status, body) => {
            assert_eq!(status, 503);
            assert!(body.contains("unavailable"), "{body}");
        }
        Opened::Stream(_) => panic!("STREAM_MAX must hold"),
    }
    // A closed stream frees its place.
    drop(sixth);
    let mut room = None;
    for _ in 0..50 {
        if let Opened::Stream(stream) = open(gateway.port, &dave, None).await {
            room = Some(stream);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(room.is_some(), "a place frees when a stream closes");
    // No session, no stream.
    let nobody = Login {
        cookie: "hs_session=nothing".into(),
        csrf: String::new(),
    };
    assert!(matches!(
        open(gateway.port, &nobody, None).await,
        Opened::Refused(401, _)
    ));
}

#[sqlx::test]
async fn sigterm_ends_open_streams_at_once(_: PgPoolOptions, options: PgConnectOptions) {
    let (_url, mut gateway) = seeded_gateway(&options, &[]).await;
    let client = Client::new(gateway.port);
    let bob = client.login("bob").await;
    let mut open_stream = stream(gateway.port, &bob, None).await;
    let pid = gateway.child.id().expect("pid");
    let started = std::time::Instant::now();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill")
        .success());
    let closed = open_stream.expect().await;
    assert_eq!(closed.event, "closed");
    assert_eq!(closed.json()["reason"], "shutdown");
    assert!(open_stream.ended(Duration::from_secs(5)).await);
    let status = tokio::time::timeout(Duration::from_secs(10), gateway.child.wait())
        .await
        .expect("the gateway exits without waiting for its streams")
        .expect("status");
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[sqlx::test]
async fn split_mode_proxies_the_stream_as_it_comes(_: PgPoolOptions, options: PgConnectOptions) {
    let url = database_url(&options);
    let Split {
        commands: _commands,
        queries: _queries,
        projector: _projector,
        mut gateway,
    } = spawn_split(&url).await;
    let client = Client::new(gateway.port);
    let (alice, bob) = (client.login("alice").await, client.login("bob").await);
    let mut bob_stream = stream(gateway.port, &bob, None).await;
    for n in 0..3 {
        let id = send(&client, &alice, "bob", "split", &format!("message {n}")).await;
        // Each event arrives on its own, not when a buffer fills or the stream ends.
        let event = bob_stream.expect().await;
        assert_eq!(event.json()["message_id"], id.as_str());
    }
    // The gateway's SIGTERM ends the stream it proxies at once (its client reconnects).
    let pid = gateway.child.id().expect("pid");
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill")
        .success());
    assert!(bob_stream.ended(Duration::from_secs(3)).await);
    let status = tokio::time::timeout(Duration::from_secs(5), gateway.child.wait())
        .await
        .expect("the gateway exits without waiting for the proxied stream")
        .expect("status");
    assert!(status.success(), "{status:?}");
}

#[sqlx::test]
async fn a_logout_ends_the_sessions_streams_at_once(_: PgPoolOptions, options: PgConnectOptions) {
    let (_url, gateway) = seeded_gateway(&options, &[]).await;
    let client = Client::new(gateway.port);
    let (bob, other_tab) = (client.login("bob").await, client.login("bob").await);
    let mut ending = stream(gateway.port, &bob, None).await;
    let mut staying = stream(gateway.port, &other_tab, None).await;
    let started = std::time::Instant::now();
    assert!(call(&client, "POST", "/api/auth/logout", &bob)
        .await
        .starts_with("HTTP/1.1 204"));
    let closed = ending.next(Duration::from_secs(3)).await.expect("closed");
    assert_eq!(
        (closed.event.as_str(), closed.json()["reason"].as_str()),
        ("closed", Some("signed_out"))
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(ending.ended(Duration::from_secs(2)).await);
    // Another session of the same user keeps its stream.
    assert_eq!(staying.next(Duration::from_millis(300)).await, None);
    assert!(!staying.ended(Duration::from_millis(100)).await);
}
