//! The metadata every event carries: who, from where, as part of which request, captured from
//! the request by an extractor (as the cqrs-es demo does) and handed to the command as is.

use std::collections::HashMap;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use http_edge::{ApiError, Caller, Edge};

/// `actor`, `role`, `request_id`, `correlation_id`, `client_ip`, `user_agent` (when sent).
///
/// `correlation_id` is the request's id: every event that one request causes shares it (a
/// conversation read marks many messages under one correlation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMetadata(HashMap<String, String>);

impl EventMetadata {
    /// The metadata of a request by `caller`.
    pub fn of(caller: &Caller) -> Self {
        let client = &caller.client;
        let mut metadata = HashMap::from([
            ("actor".to_owned(), caller.username.clone()),
            ("role".to_owned(), caller.role.to_string()),
            ("request_id".to_owned(), client.request_id.clone()),
            ("correlation_id".to_owned(), client.request_id.clone()),
            ("client_ip".to_owned(), client.ip.to_string()),
        ]);
        if let Some(agent) = &client.user_agent {
            metadata.insert("user_agent".to_owned(), agent.clone());
        }
        Self(metadata)
    }

    /// The metadata of what the scheduler does for `author` (whose message it delivers): the
    /// author is the actor, and the request is the scheduler's, named by the scheduled id.
    pub fn scheduler(author: &str, role: &str, scheduled_id: uuid::Uuid) -> Self {
        let request = format!("scheduler:{scheduled_id}");
        Self(HashMap::from([
            ("actor".to_owned(), author.to_owned()),
            ("role".to_owned(), role.to_owned()),
            ("request_id".to_owned(), request.clone()),
            ("correlation_id".to_owned(), request),
        ]))
    }

    /// The metadata of an operator's command-line task (`hs-admin retention`) acting as
    /// administrator `actor`; `task` names the run (its request and correlation id).
    pub fn operator(actor: &str, task: &str) -> Self {
        Self(HashMap::from([
            ("actor".to_owned(), actor.to_owned()),
            ("role".to_owned(), "admin".to_owned()),
            ("request_id".to_owned(), task.to_owned()),
            ("correlation_id".to_owned(), task.to_owned()),
        ]))
    }

    /// The key-value pairs, as cqrs-es stores them.
    pub fn pairs(&self) -> &HashMap<String, String> {
        &self.0
    }
}

impl<S> FromRequestParts<S> for EventMetadata
where
    Edge: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    /// From the request's [`Caller`] (the one the handler's own extractor authenticated: it is
    /// kept in the request, so this checks nothing twice).
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        Ok(Self::of(&caller))
    }
}
