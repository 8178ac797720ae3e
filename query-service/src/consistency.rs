//! Read-your-writes: wait until the projections a query reads have passed the caller's token.

use std::time::Duration;

use axum::http::HeaderMap;
use events::LogPosition;
use http_edge::ApiError;
use read_side::{Checkpoints, Projection};
use tokio::sync::watch;

/// The request header carrying a command's consistency token.
pub const CONSISTENCY_HEADER: &str = "x-consistency-token";

/// The token of a request, if it sent one; a malformed token is a 400.
pub(crate) fn requested_position(headers: &HeaderMap) -> Result<Option<LogPosition>, ApiError> {
    let Some(value) = headers.get(CONSISTENCY_HEADER) else {
        return Ok(None);
    };
    let bad = || ApiError::InvalidInput("malformed X-Consistency-Token".into());
    let text = value.to_str().map_err(|_| bad())?;
    text.trim().parse().map(Some).map_err(|_| bad())
}

/// Waits, woken by each published checkpoint (never by polling), until every one of
/// `projections` is at or past `token`. After `limit` the answer is 503 `unavailable`: the
/// caller asked to see its write, and a stale page would silently break that promise.
pub(crate) async fn wait_for(
    mut progress: watch::Receiver<Checkpoints>,
    projections: &[Projection],
    token: LogPosition,
    limit: Duration,
) -> Result<(), ApiError> {
    let names: Vec<&str> = projections.iter().map(|p| p.name()).collect();
    let reached = progress.wait_for(|checkpoints| checkpoints.reached(&names, token));
    match tokio::time::timeout(limit, reached).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) | Err(_) => {
            tracing::warn!(%token, "consistency wait timed out");
            Err(ApiError::Unavailable)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_missing_token_is_none_and_a_malformed_one_is_invalid_input() {
        let mut headers = HeaderMap::new();
        assert!(matches!(requested_position(&headers), Ok(None)));
        headers.insert(CONSISTENCY_HEADER, HeaderValue::from_static("v1.2a.7"));
        assert!(matches!(requested_position(&headers), Ok(Some(p)) if p.global_position == 7));
        headers.insert(CONSISTENCY_HEADER, HeaderValue::from_static("nonsense"));
        assert!(matches!(
            requested_position(&headers),
            Err(ApiError::InvalidInput(_))
        ));
    }

    #[tokio::test]
    async fn the_wait_ends_when_progress_passes_the_token_or_times_out() {
        let token = LogPosition {
            transaction_id: 5,
            global_position: 9,
        };
        let (sender, receiver) = watch::channel(Checkpoints::default());
        let waiting = tokio::spawn(wait_for(
            receiver.clone(),
            &[Projection::Mailbox],
            token,
            Duration::from_secs(5),
        ));
        sender.send_modify(|c| {
            c.advance("mailbox", token);
        });
        assert!(matches!(waiting.await, Ok(Ok(()))));
        let late = wait_for(
            receiver,
            &[Projection::Messages],
            token,
            Duration::from_millis(20),
        );
        assert!(matches!(late.await, Err(ApiError::Unavailable)));
    }
}
