//! The measured workloads against the running gateway: sends, the four reads, and the
//! projection lag. Each client logs in once and keeps its session.

pub mod lag;
pub mod notifications;
pub mod queries;
pub mod sends;

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use crate::client::Session;
use crate::data::PASSWORD;
use crate::error::BenchResult;

/// Logs every user of `usernames` in (a few at a time: a login is a deliberately slow argon2
/// verification).
pub async fn login_all(port: u16, usernames: Vec<String>) -> BenchResult<Vec<Arc<Session>>> {
    futures::stream::iter(usernames)
        .map(|username| async move {
            Session::login(port, &username, PASSWORD)
                .await
                .map(Arc::new)
        })
        .buffered(4)
        .try_collect()
        .await
}
