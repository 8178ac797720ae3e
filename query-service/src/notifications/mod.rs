//! `GET /api/notifications/stream`: the caller's live notifications as Server-Sent Events.
//!
//! A stream starts where the process's fan-out ([`hub`]) stands. With `Last-Event-ID` it first
//! replays the caller's notifications after that position from the feed (a page at a time, as
//! the client takes them), then continues with the live ones; positions are totally ordered,
//! so anything seen twice is skipped. The first event carries only `retry` and the position the
//! stream starts from (its `id`), so that a client that loses the stream before any notification
//! resumes without a gap. Every 15 s of silence a comment keeps proxies from closing the
//! connection. A stream ends with its session: at once on a logout or a change of the user
//! (the account-change listener tells the hub), and at the latest at the next 15 s check.

pub mod feed;
pub mod hub;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use events::LogPosition;
use futures::Stream;
use http_edge::{ApiError, Caller, Edge};

use crate::state::QueryState;
use feed::Notification;
use hub::{CloseReason, Subscription};

/// The silence after which a comment line is sent, and the session checked again.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// How long a client should wait before reconnecting (the SSE `retry` field).
const RECONNECT_AFTER: Duration = Duration::from_secs(2);
/// Notifications read per backlog page.
const BACKLOG_PAGE: i64 = 200;

/// The `Last-Event-ID` header: `None` when absent or empty, 400 when not a position.
fn last_event_id(headers: &HeaderMap) -> Result<Option<LogPosition>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::InvalidInput("Last-Event-ID is not an event id".into()))?
        .trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| ApiError::InvalidInput("Last-Event-ID is not an event id".into()))
}

/// Opens the caller's notification stream.
#[utoipa::path(get, path = "/api/notifications/stream", tag = "queries",
    params(("Last-Event-ID" = Option<String>, Header,
        description = "the `id` of the last event received: the events after it are sent first")),
    responses(
        (status = 200, content_type = "text/event-stream",
            description = "Server-Sent Events `message`, `read`, `unread` (JSON data) and a final `closed` `{reason}`; a comment every 15 s."),
        (status = 400, body = http_edge::ErrorBody, description = "`invalid_input`: a malformed Last-Event-ID."),
        (status = 503, body = http_edge::ErrorBody, description = "`unavailable`: the server holds STREAM_MAX streams, or the read side is not reachable.")))]
pub async fn get_stream(
    State(state): State<QueryState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let resume = last_event_id(&headers)?;
    let hub = state.notifications();
    if hub.ready(state.consistency_wait()).await.is_none() {
        return Err(ApiError::Unavailable);
    }
    let session = http_edge::sessions::token_hash(&caller.session_token);
    let subscription = hub.subscribe(&caller.username, session).map_err(|full| {
        tracing::warn!(%full, "notification stream refused");
        ApiError::Unavailable
    })?;
    let mut stream = Streaming {
        pending: VecDeque::new(),
        backlog_after: None,
        last_sent: resume,
        subscription,
        state: state.clone(),
        user: caller.username,
        session_token: caller.session_token,
        heartbeat: tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT),
        started: false,
        done: false,
    };
    if let Some(after) = resume {
        // The first page here, so that an unreachable database is a 503, not a broken stream.
        stream.backlog_after = Some(after);
        stream.next_backlog_page().await?;
    }
    let events = futures::stream::unfold(stream, |mut stream| async move {
        let event = stream.next_event().await?;
        Some((Ok::<Event, Infallible>(event), stream))
    });
    Ok(sse_response(events))
}

/// The SSE answer: a comment every [`HEARTBEAT`], and no buffering by a proxy in front.
fn sse_response(
    events: impl Stream<Item = Result<Event, Infallible>> + Send + 'static,
) -> Response {
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(HEARTBEAT).text("keep-alive"))
        .into_response();
    response.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    response
}

/// One open stream.
struct Streaming {
    /// Backlog notifications read and not sent yet.
    pending: VecDeque<Notification>,
    /// While the backlog may hold more: the position after which the next page starts.
    backlog_after: Option<LogPosition>,
    /// The last position sent (or the client's `Last-Event-ID`): nothing at or before it again.
    last_sent: Option<LogPosition>,
    subscription: Subscription,
    state: QueryState,
    user: String,
    session_token: String,
    heartbeat: tokio::time::Interval,
    started: bool,
    done: bool,
}

impl Streaming {
    /// Reads the next backlog page (up to where the live notifications begin).
    async fn next_backlog_page(&mut self) -> Result<(), ApiError> {
        let Some(after) = self.backlog_after else {
            return Ok(());
        };
        let up_to = self.subscription.start;
        if after >= up_to {
            self.backlog_after = None;
            return Ok(());
        }
        let client = self.state.reads().await?;
        let page = feed::backlog(&client, &self.user, after, up_to, BACKLOG_PAGE)
            .await
            .map_err(ApiError::internal)?;
        self.backlog_after = match page.last() {
            Some(last) if page.len() as i64 == BACKLOG_PAGE => Some(last.position),
            _ => None,
        };
        self.pending.extend(page);
        Ok(())
    }

    /// The event to send for `notification`, unless it was sent already.
    fn event_for(&mut self, notification: &Notification) -> Option<Event> {
        if self
            .last_sent
            .is_some_and(|last| notification.position <= last)
        {
            return None;
        }
        let data = match notification.data() {
            Ok(data) => data,
            Err(error) => {
                tracing::error!(%error, "cannot encode a notification");
                return None;
            }
        };
        self.last_sent = Some(notification.position);
        Some(
            Event::default()
                .event(notification.event_name())
                .id(notification.position.to_string())
                .data(data),
        )
    }

    fn closing(&mut self, reason: CloseReason) -> Event {
        self.done = true;
        Event::default()
            .event("closed")
            .data(format!(r#"{{"reason":"{}"}}"#, reason.as_str()))
    }

    /// The next event to send, or `None` when the stream ends.
    async fn next_event(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        if !self.started {
            self.started = true;
            // With an id from the start, a client that loses the stream before its first
            // notification resumes from here too.
            let from = self.last_sent.unwrap_or(self.subscription.start);
            return Some(Event::default().retry(RECONNECT_AFTER).id(from.to_string()));
        }
        loop {
            while let Some(notification) = self.pending.pop_front() {
                if let Some(event) = self.event_for(&notification) {
                    return Some(event);
                }
            }
            if self.backlog_after.is_some() {
                if let Err(error) = self.next_backlog_page().await {
                    // The client reconnects and resumes from the last event it got.
                    tracing::warn!(?error, "a notification stream's backlog cannot be read");
                    return None;
                }
                continue;
            }
            // The hub's shutdown reaches every stream through `closed` (a stream cannot
            // subscribe once it has begun).
            tokio::select! {
                biased;
                reason = &mut self.subscription.closed => match reason {
                    Ok(reason) => return Some(self.closing(reason)),
                    // Dropped by the hub for falling behind: end; the client resumes.
                    Err(_) => return None,
                },
                live = self.subscription.live.recv() => match live {
                    Some(notification) => self.pending.push_back(notification),
                    // Dropped by the hub for falling behind: end; the client resumes.
                    None => return None,
                },
                _ = self.heartbeat.tick() => {
                    if !self.session_is_live().await {
                        return Some(self.closing(CloseReason::SignedOut));
                    }
                }
                _ = self.subscription.recheck.notified() => {
                    if !self.session_is_live().await {
                        return Some(self.closing(CloseReason::SignedOut));
                    }
                }
            }
        }
    }

    /// Whether the stream's session still stands (a failed look-up counts as standing: the
    /// next check decides).
    async fn session_is_live(&self) -> bool {
        let edge = Edge::from_ref(&self.state);
        match edge.sessions.find(&self.session_token).await {
            Ok(session) => session.is_some(),
            Err(error) => {
                tracing::warn!(%error, "cannot check a notification stream's session");
                true
            }
        }
    }
}
