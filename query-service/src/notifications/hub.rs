//! The process's fan-out of live notifications: one dispatcher follows the mailbox projection's
//! checkpoint (the process's one progress listener), reads what each batch added to the feed
//! in one range read, and hands every row to the open streams of its recipient. A stream is a
//! bounded channel and costs no database connection while idle.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use accounts::{AccountChange, Invalidate};
use deadpool_postgres::Pool;
use events::LogPosition;
use read_side::{Checkpoints, Projection};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio_util::sync::CancellationToken;

use super::feed::{self, Notification};

/// Streams one user may hold at once; a newer one closes the oldest.
pub const STREAMS_PER_USER: usize = 5;
/// Notifications a stream may have waiting; a stream that falls this far behind is closed (its
/// client resumes from its last event id and reads the rest from the feed).
const STREAM_BUFFER: usize = 256;
/// Rows read per range read.
const RANGE_PAGE: i64 = 1_000;
/// The longest pause between attempts when the feed cannot be read.
const MAX_RETRY: Duration = Duration::from_secs(5);

/// Why the server ends a stream (the `closed` event's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// A newer stream of the same user took this one's place.
    Replaced,
    /// The server is stopping.
    Shutdown,
    /// The session has ended.
    SignedOut,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Replaced => "replaced",
            CloseReason::Shutdown => "shutdown",
            CloseReason::SignedOut => "signed_out",
        }
    }
}

/// The process holds `STREAM_MAX` streams already.
#[derive(Debug, thiserror::Error)]
#[error("the process holds its maximum number of notification streams")]
pub struct Full;

struct Entry {
    id: u64,
    sender: mpsc::Sender<Notification>,
    close: Option<oneshot::Sender<CloseReason>>,
    /// The SHA-256 of the stream's session token, as account changes name sessions.
    session: [u8; 32],
    /// Signalled when the stream's session or user changed: it checks its session at once.
    recheck: Arc<Notify>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    /// Everything up to here has been handed to the streams open at the time.
    dispatched: Option<LogPosition>,
    streams: HashMap<String, VecDeque<Entry>>,
    open: usize,
}

struct Inner {
    state: Mutex<State>,
    max_streams: usize,
    shutdown: CancellationToken,
    dispatched: watch::Sender<Option<LogPosition>>,
}

/// The fan-out (cheap to clone). Its dispatcher stops with [`NotificationHub::shutdown`].
#[derive(Clone)]
pub struct NotificationHub {
    inner: Arc<Inner>,
}

/// One open stream's end of the hub; dropping it unregisters the stream.
pub struct Subscription {
    hub: NotificationHub,
    user: String,
    id: u64,
    /// Live notifications after [`Subscription::start`].
    pub live: mpsc::Receiver<Notification>,
    /// Fires when the hub closes this stream (replaced, or the server stops).
    pub closed: oneshot::Receiver<CloseReason>,
    /// Where the live notifications begin: everything after it arrives on `live`.
    pub start: LogPosition,
    /// Signalled when the session may have ended (a logout, a disabled user): check it now.
    pub recheck: Arc<Notify>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut state = self.hub.lock();
        if let Some(entries) = state.streams.get_mut(&self.user) {
            let before = entries.len();
            entries.retain(|entry| entry.id != self.id);
            let removed = before - entries.len();
            if entries.is_empty() {
                state.streams.remove(&self.user);
            }
            state.open -= removed;
            metrics::gauge!("notification_streams").set(state.open as f64);
        }
    }
}

impl NotificationHub {
    /// A hub allowing `max_streams` open streams, following `progress` (the mailbox
    /// checkpoint) and reading the feed through `reads`. Must be called within a tokio runtime.
    pub fn start(max_streams: usize, progress: watch::Receiver<Checkpoints>, reads: Pool) -> Self {
        let hub = Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                max_streams,
                shutdown: CancellationToken::new(),
                dispatched: watch::Sender::new(None),
            }),
        };
        tokio::spawn(hub.clone().dispatch(progress, reads));
        hub
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every await-free step; a panic elsewhere does not
        // poison what it means.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Closes every stream (reason `shutdown`) and refuses new ones; the dispatcher stops.
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
        let mut state = self.lock();
        for entries in state.streams.values_mut() {
            for entry in entries.iter_mut() {
                if let Some(close) = entry.close.take() {
                    let _ = close.send(CloseReason::Shutdown);
                }
            }
        }
    }

    /// Whether the hub has been shut down.
    fn is_shut_down(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }

    /// Waits (at most `wait`) until the mailbox checkpoint is known, so that a stream has a
    /// position to start from; `None` when it is not known in time.
    pub async fn ready(&self, wait: Duration) -> Option<LogPosition> {
        let mut known = self.inner.dispatched.subscribe();
        let found = tokio::time::timeout(wait, known.wait_for(Option::is_some)).await;
        match found {
            Ok(Ok(position)) => *position,
            _ => None,
        }
    }

    /// Registers a stream of `user`; the oldest of theirs is closed when they would hold more
    /// than [`STREAMS_PER_USER`]. Call after [`NotificationHub::ready`].
    pub fn subscribe(&self, user: &str, session: [u8; 32]) -> Result<Subscription, Full> {
        let (sender, live) = mpsc::channel(STREAM_BUFFER);
        let (close, closed) = oneshot::channel();
        let recheck = Arc::new(Notify::new());
        let mut state = self.lock();
        let start = match state.dispatched {
            Some(start) if !self.is_shut_down() => start,
            _ => return Err(Full),
        };
        let replaces = state
            .streams
            .get(user)
            .is_some_and(|entries| entries.len() >= STREAMS_PER_USER);
        if !replaces && state.open >= self.inner.max_streams {
            return Err(Full);
        }
        state.next_id += 1;
        let id = state.next_id;
        let entries = state.streams.entry(user.to_owned()).or_default();
        if replaces {
            if let Some(mut oldest) = entries.pop_front() {
                if let Some(close) = oldest.close.take() {
                    let _ = close.send(CloseReason::Replaced);
                }
            }
        }
        entries.push_back(Entry {
            id,
            sender,
            close: Some(close),
            session,
            recheck: recheck.clone(),
        });
        if !replaces {
            state.open += 1;
        }
        metrics::gauge!("notification_streams").set(state.open as f64);
        drop(state);
        Ok(Subscription {
            hub: self.clone(),
            user: user.to_owned(),
            id,
            live,
            closed,
            start,
            recheck,
        })
    }

    /// Asks every stream that `matches` to check its session now.
    fn recheck(&self, matches: impl Fn(&str, &Entry) -> bool) {
        let state = self.lock();
        for (user, entries) in &state.streams {
            for entry in entries.iter().filter(|entry| matches(user, entry)) {
                entry.recheck.notify_one();
            }
        }
    }

    /// Follows the mailbox checkpoint until shutdown, handing out what each step added.
    async fn dispatch(self, mut progress: watch::Receiver<Checkpoints>, reads: Pool) {
        let stop = self.inner.shutdown.clone();
        loop {
            let target = progress.borrow_and_update().get(Projection::Mailbox.name());
            if let Some(target) = target {
                self.advance(target, &reads, &stop).await;
            }
            tokio::select! {
                changed = progress.changed() => if changed.is_err() { return },
                _ = stop.cancelled() => return,
            }
        }
    }

    /// Hands out the feed up to `target`, retrying (with a growing pause) until it can be read.
    async fn advance(&self, target: LogPosition, reads: &Pool, stop: &CancellationToken) {
        let mut retry = Duration::from_millis(100);
        loop {
            let from = {
                let mut state = self.lock();
                match state.dispatched {
                    Some(done) if done >= target => return,
                    Some(done) if state.open > 0 => done,
                    // Nobody listens (or this is the first checkpoint the process learns):
                    // nothing to hand out; a stream that opens later starts here.
                    _ => {
                        state.dispatched = Some(target);
                        self.inner.dispatched.send_replace(Some(target));
                        return;
                    }
                }
            };
            match self.hand_out(from, target, reads).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%error, retry_in_ms = retry.as_millis() as u64,
                        "cannot read the notification feed");
                    tokio::select! {
                        _ = tokio::time::sleep(retry) => {}
                        _ = stop.cancelled() => return,
                    }
                    retry = (retry * 2).min(MAX_RETRY);
                }
            }
        }
    }

    /// Reads `(from, target]` a page at a time and delivers each page.
    async fn hand_out(
        &self,
        mut from: LogPosition,
        target: LogPosition,
        reads: &Pool,
    ) -> Result<(), HandOutError> {
        let client = reads.get().await?;
        loop {
            let page = feed::range(&client, from, target, RANGE_PAGE).await?;
            let full = page.len() as i64 == RANGE_PAGE;
            let reached = match page.last() {
                Some(last) if full => last.position,
                _ => target,
            };
            self.deliver(page, reached);
            if !full {
                return Ok(());
            }
            from = reached;
        }
    }

    /// Gives each notification to its recipient's streams and records `reached`. A stream
    /// whose buffer is full is dropped: its client reconnects and resumes from the feed.
    fn deliver(&self, page: Vec<Notification>, reached: LogPosition) {
        let mut state = self.lock();
        let mut delivered = 0u64;
        for notification in page {
            let Some(entries) = state.streams.get_mut(&notification.recipient) else {
                continue;
            };
            let before = entries.len();
            entries.retain(|entry| match entry.sender.try_send(notification.clone()) {
                Ok(()) => {
                    delivered += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::info!(user = %notification.recipient,
                        "a notification stream fell behind; closing it so that it resumes");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
            let removed = before - entries.len();
            if entries.is_empty() {
                state.streams.remove(&notification.recipient);
            }
            state.open -= removed;
        }
        metrics::counter!("notifications_delivered_total").increment(delivered);
        metrics::gauge!("notification_streams").set(state.open as f64);
        state.dispatched = Some(reached);
        self.inner.dispatched.send_replace(Some(reached));
    }
}

/// Streams end as soon as their session does: the process's account-change listener tells the
/// hub of every logout, expiry and user change, and the streams concerned check their session
/// at once (the session cache has forgotten it by then).
impl Invalidate for NotificationHub {
    fn invalidate(&self, change: &AccountChange) {
        match change {
            AccountChange::Session(hash) => self.recheck(|_, entry| entry.session == *hash),
            AccountChange::User(name) => self.recheck(|user, _| user == name),
            AccountChange::Approval { .. } => {}
        }
    }

    /// Changes may be missed while the listener is away: the 15 s checks go on meanwhile.
    fn go_dark(&self) {}

    /// Changes may have been missed: every stream checks its session.
    fn go_live(&self) {
        self.recheck(|_, _| true);
    }
}

#[derive(Debug, thiserror::Error)]
enum HandOutError {
    #[error("no read connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error(transparent)]
    Feed(#[from] feed::FeedError),
}
