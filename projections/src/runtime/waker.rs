//! The wake-up fan-out: every signal (in-process `Notify`, `LISTEN hs_events`) reaches each
//! projection's runner.

use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use read_side::{process_mark, EVENTS_CHANNEL};

/// Fans every wake-up (in-process `Notify`, `LISTEN hs_events`) out to each runner. A runner's
/// own `Notify` keeps a permit while it is busy, so no signal is lost between two catch-ups.
pub(crate) struct Waker {
    pub pool: PgPool,
    pub external: Option<Arc<Notify>>,
    pub targets: Vec<Arc<Notify>>,
    pub retry: Duration,
}

enum Signal {
    Wake,
    Echo,
    ListenerLost,
    Stop,
}

impl Waker {
    fn wake_all(&self) {
        self.targets.iter().for_each(|t| t.notify_one());
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let mut listener: Option<PgListener> = None;
        loop {
            if listener.is_none() {
                listener = match listen(&self.pool).await {
                    Ok(l) => Some(l),
                    Err(error) => {
                        tracing::debug!(%error, "cannot LISTEN {EVENTS_CHANNEL} yet");
                        None
                    }
                };
                // Anything may have been missed while not listening.
                self.wake_all();
            }
            let external = async {
                match &self.external {
                    Some(notify) => notify.notified().await,
                    None => pending().await,
                }
            };
            let database = async {
                match listener.as_mut() {
                    // `Ok(None)`: the connection was lost and re-established.
                    Some(l) => match l.try_recv().await {
                        // This process's own commit, whose in-process signal has already woken
                        // the runners: waking them again would only run an empty batch.
                        Ok(Some(n)) if self.external.is_some() && n.payload() == process_mark() => {
                            Signal::Echo
                        }
                        Ok(_) => Signal::Wake,
                        Err(_) => Signal::ListenerLost,
                    },
                    None => {
                        tokio::time::sleep(self.retry).await;
                        Signal::Wake
                    }
                }
            };
            let signal = tokio::select! {
                _ = shutdown.cancelled() => Signal::Stop,
                _ = external => Signal::Wake,
                signal = database => signal,
            };
            match signal {
                Signal::Wake => self.wake_all(),
                Signal::Echo => {}
                Signal::ListenerLost => listener = None,
                Signal::Stop => return,
            }
        }
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(EVENTS_CHANNEL).await?;
    Ok(listener)
}
