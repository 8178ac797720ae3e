//! The projections' progress as this process knows it: `LISTEN hs_progress` (tokio-postgres),
//! merged with the in-process projector's watch channel when there is one.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use read_side::{parse_progress, Checkpoints, PROGRESS_CHANNEL};
use tokio::sync::{mpsc, watch};
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::{CancellationToken, DropGuard};

const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A watch of every projection's checkpoint. Its tasks stop when the last clone is dropped.
#[derive(Clone)]
pub struct ProgressTracker {
    receiver: watch::Receiver<Checkpoints>,
    _stop: Arc<DropGuard>,
}

impl ProgressTracker {
    /// Starts listening with `config` (reconnecting with a growing pause, re-reading every
    /// checkpoint after each `LISTEN`), and follows `in_process` when the projector runs here:
    /// several gateway instances each run a projector, but only one leads, so the others learn
    /// of progress through `NOTIFY hs_progress` only. Must be called within a tokio runtime.
    pub fn start(
        config: tokio_postgres::Config,
        in_process: Option<watch::Receiver<Checkpoints>>,
    ) -> Self {
        let (sender, receiver) = watch::channel(Checkpoints::default());
        let stop = CancellationToken::new();
        tokio::spawn(listen_forever(config, sender.clone(), stop.clone()));
        if let Some(source) = in_process {
            tokio::spawn(follow(source, sender, stop.clone()));
        }
        Self {
            receiver,
            _stop: Arc::new(stop.drop_guard()),
        }
    }

    /// A receiver of the merged checkpoints.
    pub fn receiver(&self) -> watch::Receiver<Checkpoints> {
        self.receiver.clone()
    }
}

async fn follow(
    mut source: watch::Receiver<Checkpoints>,
    sender: watch::Sender<Checkpoints>,
    stop: CancellationToken,
) {
    loop {
        let latest = source.borrow_and_update().clone();
        sender.send_if_modified(|known| known.merge(&latest));
        tokio::select! {
            changed = source.changed() => if changed.is_err() { return },
            _ = stop.cancelled() => return,
        }
    }
}

async fn listen_forever(
    config: tokio_postgres::Config,
    sender: watch::Sender<Checkpoints>,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match listen(&config, &sender, &stop).await {
            Ok(true) => return,
            Ok(false) => tracing::warn!("progress listener lost its connection"),
            Err(error) => tracing::warn!(%error, "progress listener failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's life; `Ok(true)` when stopped, `Ok(false)` when the connection ended.
async fn listen(
    config: &tokio_postgres::Config,
    sender: &watch::Sender<Checkpoints>,
    stop: &CancellationToken,
) -> Result<bool, tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (notes, mut incoming) = mpsc::unbounded_channel::<String>();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(note) = message {
                if notes.send(note.payload().to_owned()).is_err() {
                    return;
                }
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {PROGRESS_CHANNEL}"))
        .await?;
    // Read after LISTEN: nothing published in between can be missed.
    let rows = client
        .query(
            "SELECT projection, transaction_id::text, global_position
             FROM projection_checkpoints",
            &[],
        )
        .await?;
    sender.send_if_modified(|known| {
        rows.iter().fold(false, |changed, row| {
            let (Ok(name), Ok(xid), Ok(global_position)) = (
                row.try_get::<_, String>(0),
                row.try_get::<_, String>(1),
                row.try_get::<_, i64>(2),
            ) else {
                return changed;
            };
            let Ok(transaction_id) = xid.parse() else {
                return changed;
            };
            let position = events::LogPosition {
                transaction_id,
                global_position,
            };
            known.advance(&name, position) | changed
        })
    });
    let stopped = loop {
        tokio::select! {
            note = incoming.recv() => match note {
                Some(payload) => {
                    if let Some((name, position)) = parse_progress(&payload) {
                        sender.send_if_modified(|known| known.advance(name, position));
                    }
                }
                None => break false,
            },
            _ = stop.cancelled() => break true,
        }
    };
    drop(client);
    driver.abort();
    Ok(stopped)
}
