//! One logged-in client of the gateway: its own cookie jar and connection, the session's CSRF
//! token, and the few calls the benchmark makes. Only ever talks to 127.0.0.1.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::error::{BenchError, BenchResult};

/// Longest a single request may take (it bounds the end of every step).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub username: String,
    base: String,
    client: Client,
    csrf: String,
}

#[derive(Deserialize)]
struct LoginAnswer {
    csrf_token: String,
}

/// The 201 answer of a send.
#[derive(Debug, Clone, Deserialize)]
pub struct SendReceipt {
    pub message_id: uuid::Uuid,
    /// The answer's `X-Consistency-Token` header.
    #[serde(skip)]
    pub token: Option<String>,
}

/// An HTTP client for `127.0.0.1:port`, with no proxy and a cookie jar.
fn http_client() -> BenchResult<Client> {
    Ok(Client::builder()
        .cookie_store(true)
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(2)
        .user_agent("hs-bench")
        .build()?)
}

/// `http://127.0.0.1:<port>`.
pub fn base_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// What one login attempt got.
#[derive(Debug)]
pub enum LoginAttempt {
    In(Session),
    /// 503 `unavailable`: the password checks are busy; try again after this long.
    Busy(Duration),
}

impl Session {
    /// Logs in through `POST /api/auth/login`; anything but a 200 is an error.
    pub async fn login(port: u16, username: &str, password: &str) -> BenchResult<Self> {
        match Self::try_login(port, username, password).await? {
            LoginAttempt::In(session) => Ok(session),
            LoginAttempt::Busy(_) => Err(BenchError::Gateway(format!(
                "login of {username} answered 503: password checks busy"
            ))),
        }
    }

    /// One `POST /api/auth/login`: in, or busy (503 with `Retry-After`); anything else is an
    /// error.
    pub async fn try_login(port: u16, username: &str, password: &str) -> BenchResult<LoginAttempt> {
        let client = http_client()?;
        let base = base_url(port);
        let answer = client
            .post(format!("{base}/api/auth/login"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await?;
        let status = answer.status();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            let seconds = answer
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1);
            return Ok(LoginAttempt::Busy(Duration::from_secs(seconds)));
        }
        if status != StatusCode::OK {
            let body = answer.text().await.unwrap_or_default();
            return Err(BenchError::Gateway(format!(
                "login of {username} answered {status}: {}",
                prefix(&body)
            )));
        }
        let login: LoginAnswer = answer.json().await?;
        Ok(LoginAttempt::In(Self {
            username: username.to_owned(),
            base,
            client,
            csrf: login.csrf_token,
        }))
    }

    /// `POST /api/messages/send`; `Err` describes anything but a 201.
    pub async fn send(
        &self,
        recipient: &str,
        subject: &str,
        content: &str,
    ) -> Result<SendReceipt, String> {
        let answer = self
            .client
            .post(format!("{}/api/messages/send", self.base))
            .header("X-CSRF-Token", &self.csrf)
            .json(&json!({ "recipient": recipient, "subject": subject, "content": content }))
            .send()
            .await
            .map_err(|e| format!("send failed: {e}"))?;
        let status = answer.status();
        let token = answer
            .headers()
            .get("x-consistency-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = answer
            .bytes()
            .await
            .map_err(|e| format!("send body: {e}"))?;
        if status != StatusCode::CREATED {
            return Err(format!(
                "send answered {status}: {}",
                prefix(&String::from_utf8_lossy(&body))
            ));
        }
        let mut receipt: SendReceipt =
            serde_json::from_slice(&body).map_err(|e| format!("send answer: {e}"))?;
        receipt.token = token;
        Ok(receipt)
    }

    /// `GET path` (path and query); the status and the whole body.
    pub async fn get(&self, path: &str) -> Result<(StatusCode, Vec<u8>), String> {
        self.get_after(path, None).await
    }

    /// `GET path` with `X-Consistency-Token: token` when given (the server answers once the
    /// projections the query reads have passed it).
    pub async fn get_after(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> Result<(StatusCode, Vec<u8>), String> {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("X-Consistency-Token", token);
        }
        let answer = request
            .send()
            .await
            .map_err(|e| format!("GET {path} failed: {e}"))?;
        let status = answer.status();
        let body = answer
            .bytes()
            .await
            .map_err(|e| format!("GET {path} body: {e}"))?;
        Ok((status, body.to_vec()))
    }

    /// `GET path`, which must answer 200.
    pub async fn get_ok(&self, path: &str) -> Result<Vec<u8>, String> {
        let (status, body) = self.get(path).await?;
        if status == StatusCode::OK {
            Ok(body)
        } else {
            Err(format!(
                "GET {path} answered {status}: {}",
                prefix(&String::from_utf8_lossy(&body))
            ))
        }
    }
}

/// An open `GET /api/notifications/stream`, read as its chunks arrive.
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

/// One Server-Sent Event with a name (`message`, `read`, `unread`, `closed`).
#[derive(Debug, Clone)]
pub struct StreamEvent {
    pub event: String,
    pub data: String,
}

impl Session {
    /// Opens the caller's notification stream (no request timeout: it lasts until dropped).
    pub async fn open_stream(&self) -> Result<EventStream, String> {
        let response = self
            .client
            .get(format!("{}/api/notifications/stream", self.base))
            .timeout(Duration::from_secs(24 * 3600))
            .send()
            .await
            .map_err(|e| format!("stream failed: {e}"))?;
        if response.status() != StatusCode::OK {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(format!("stream answered {status}: {}", prefix(&body)));
        }
        Ok(EventStream {
            response,
            buffer: String::new(),
        })
    }
}

impl EventStream {
    /// Waits (until `deadline`) for the first bytes: the server's `retry` preamble.
    pub async fn established(&mut self, deadline: tokio::time::Instant) -> Result<(), String> {
        while !self.buffer.contains("\n\n") {
            self.read_chunk(deadline).await?;
        }
        Ok(())
    }

    async fn read_chunk(&mut self, deadline: tokio::time::Instant) -> Result<(), String> {
        match tokio::time::timeout_at(deadline, self.response.chunk()).await {
            Err(_) => Err("no event in time".into()),
            Ok(Err(e)) => Err(format!("stream broke: {e}")),
            Ok(Ok(None)) => Err("stream ended".into()),
            Ok(Ok(Some(chunk))) => {
                self.buffer
                    .push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
                Ok(())
            }
        }
    }

    /// The next named event before `deadline` (comments and the preamble are skipped).
    pub async fn next_event(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> Result<StreamEvent, String> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = StreamEvent {
                    event: String::new(),
                    data: String::new(),
                };
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        event.event = value.trim().to_owned();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        event.data.push_str(value.trim_start());
                    }
                }
                if !event.event.is_empty() {
                    return Ok(event);
                }
            }
            self.read_chunk(deadline).await?;
        }
    }
}

/// The start of a body, for error messages.
pub fn prefix(body: &str) -> String {
    body.chars().take(200).collect()
}
