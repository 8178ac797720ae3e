//! The `Caller` extractor: session (401), then CSRF on state-changing verbs (403), then the
//! per-IP rate limit (429), in the order `API.md` prescribes, before any body is read.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use events::Role;
use subtle::ConstantTimeEq;

use crate::client::ClientInfo;
use crate::error::ApiError;
use crate::sessions::cookie_name;
use crate::Edge;

/// The authenticated user of a request, with their client information.
#[derive(Debug, Clone)]
pub struct Caller {
    pub username: String,
    pub role: Role,
    pub display_name: String,
    pub csrf_token: String,
    /// The session's cookie token (to revoke it on logout).
    pub session_token: String,
    pub client: ClientInfo,
}

/// The value of the cookie `name`, if the request carries exactly one. Two of them are refused
/// as ambiguous: a cookie planted from a sibling domain must not shadow (or stand beside) the
/// real one, and which one a server reads first is not something a browser promises.
pub fn session_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut values = headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(found, _)| *found == name)
        .map(|(_, value)| value.to_owned());
    let first = values.next()?;
    match values.next() {
        None => Some(first),
        Some(_) => None,
    }
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn csrf_matches(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get("x-csrf-token")
        .map(|given| bool::from(given.as_bytes().ct_eq(expected.as_bytes())))
        .unwrap_or(false)
}

impl<S> FromRequestParts<S> for Caller
where
    Edge: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let edge = Edge::from_ref(state);
        let name = cookie_name(edge.settings.cookie_secure);
        let token = session_cookie(&parts.headers, name).ok_or(ApiError::Unauthenticated)?;
        let session = edge
            .sessions
            .find(&token)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        if changes_state(&parts.method) && !csrf_matches(&parts.headers, &session.csrf_token) {
            return Err(ApiError::CsrfFailed);
        }
        let client = match ClientInfo::from_request_parts(parts, state).await {
            Ok(client) => client,
            Err(never) => match never {},
        };
        edge.take_ip(client.ip).await?;
        tracing::Span::current().record("user", session.username.as_str());
        let caller = Caller {
            username: session.username,
            role: session.role,
            display_name: session.display_name,
            csrf_token: session.csrf_token,
            session_token: token,
            client,
        };
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// A [`Caller`] who may create one more message now (the per-user bucket of `API.md`).
#[derive(Debug, Clone)]
pub struct MessageQuota(pub Caller);

impl<S> FromRequestParts<S> for MessageQuota
where
    Edge: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        Edge::from_ref(state).take_user(&caller.username).await?;
        Ok(MessageQuota(caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_static("theme=dark; hs_session=abc; x=y"),
        );
        assert_eq!(
            session_cookie(&headers, "hs_session").as_deref(),
            Some("abc")
        );
        assert_eq!(session_cookie(&headers, "__Host-hs_session"), None);
        assert_eq!(session_cookie(&HeaderMap::new(), "hs_session"), None);
    }

    #[test]
    fn two_session_cookies_are_ambiguous_and_count_as_none() {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_static("hs_session=planted; hs_session=real"),
        );
        assert_eq!(session_cookie(&headers, "hs_session"), None);
        headers.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_static("hs_session=planted"),
        );
        headers.append(
            axum::http::header::COOKIE,
            HeaderValue::from_static("hs_session=real"),
        );
        assert_eq!(session_cookie(&headers, "hs_session"), None);
    }

    #[test]
    fn csrf_must_match_exactly() {
        let mut headers = HeaderMap::new();
        assert!(!csrf_matches(&headers, "token"));
        headers.insert("x-csrf-token", HeaderValue::from_static("token"));
        assert!(csrf_matches(&headers, "token"));
        assert!(!csrf_matches(&headers, "token2"));
        assert!(!csrf_matches(&headers, "toke"));
    }
}
