//! What the audit endpoints share: who may call them, and their filters (`actor`, `message_id`,
//! `action`, `counterpart`, `from`, `to`) validated into the API's 400s.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use chrono::{DateTime, NaiveDate, Utc};
use events::limits::is_valid_username;
use events::Role;
use http_edge::{ApiError, Caller};
use serde::Deserialize;
use uuid::Uuid;

use crate::handlers::first_page_at;

/// Longest action name accepted as a filter.
const MAX_ACTION_CHARS: usize = 64;

/// Auditors and administrators read the audit trail; everyone else gets 403.
pub(crate) fn require_auditor(caller: &Caller) -> Result<(), ApiError> {
    match caller.role {
        Role::Auditor | Role::Admin => Ok(()),
        Role::Patient | Role::Clinician => Err(ApiError::Forbidden(
            "only auditors and administrators read the audit trail".into(),
        )),
    }
}

/// The raw filters of the query string (validated by [`AuditQuery::filter`] after the role
/// check, so that a caller without the role learns nothing from a 400).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditQuery {
    actor: Option<String>,
    message_id: Option<String>,
    action: Option<String>,
    counterpart: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for AuditQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Query::<AuditQuery>::try_from_uri(&parts.uri)
            .map(|Query(query)| query)
            .map_err(|_| ApiError::InvalidInput("malformed query string".into()))
    }
}

/// Validated filters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AuditFilter {
    pub actor: Option<String>,
    pub message_id: Option<Uuid>,
    pub action: Option<String>,
    pub counterpart: Option<String>,
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
}

/// The start of time for a filter without `from` (PostgreSQL's `timestamptz` holds it).
pub(crate) fn far_past() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A present, non-blank value.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn username(name: &'static str, value: &Option<String>) -> Result<Option<String>, ApiError> {
    match given(value) {
        None => Ok(None),
        Some(v) if is_valid_username(v) => Ok(Some(v.to_owned())),
        Some(_) => Err(ApiError::InvalidInput(format!(
            "{name} must be a username (1 to 64 characters of a-z, 0-9, _ . -)"
        ))),
    }
}

/// RFC 3339. A `+` of the offset that arrived unencoded (a space in a query string) is
/// taken back.
fn time(name: &'static str, value: &Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(text) = given(value) else {
        return Ok(None);
    };
    let parsed = DateTime::parse_from_rfc3339(text).or_else(|err| match text.rsplit_once(' ') {
        Some((time, offset)) => DateTime::parse_from_rfc3339(&format!("{time}+{offset}")),
        None => Err(err),
    });
    parsed
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| ApiError::InvalidInput(format!("{name} must be an RFC 3339 time")))
}

impl AuditQuery {
    /// The validated filters: usernames, a UUID, a snake_case action, RFC 3339 times with
    /// `from` before `to`; blank values count as absent.
    pub fn filter(&self) -> Result<AuditFilter, ApiError> {
        let message_id = given(&self.message_id)
            .map(|v| {
                Uuid::parse_str(v)
                    .map_err(|_| ApiError::InvalidInput("message_id must be a UUID".into()))
            })
            .transpose()?;
        let action = match given(&self.action) {
            None => None,
            Some(a)
                if a.len() <= MAX_ACTION_CHARS
                    && a.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') =>
            {
                Some(a.to_owned())
            }
            Some(_) => {
                return Err(ApiError::InvalidInput(
                    "action must be an action name such as message_sent".into(),
                ))
            }
        };
        let filter = AuditFilter {
            actor: username("actor", &self.actor)?,
            message_id,
            action,
            counterpart: username("counterpart", &self.counterpart)?,
            from: time("from", &self.from)?,
            to: time("to", &self.to)?,
        };
        if filter.start() >= filter.end() {
            return Err(ApiError::InvalidInput("from must be before to".into()));
        }
        Ok(filter)
    }
}

impl AuditFilter {
    /// Whether `from` or `to` was given.
    pub fn timed(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }

    /// `from`, or the far past.
    pub fn start(&self) -> DateTime<Utc> {
        self.from.unwrap_or_else(far_past)
    }

    /// `to`, or the far future.
    pub fn end(&self) -> DateTime<Utc> {
        self.to.unwrap_or_else(first_page_at)
    }

    /// The filters as one string, for binding a page cursor to them.
    pub fn context(&self) -> String {
        format!(
            "{}\0{}\0{}\0{}\0{}\0{}",
            self.actor.as_deref().unwrap_or_default(),
            self.message_id.map(|id| id.to_string()).unwrap_or_default(),
            self.action.as_deref().unwrap_or_default(),
            self.counterpart.as_deref().unwrap_or_default(),
            self.start().timestamp_micros(),
            self.end().timestamp_micros(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> AuditQuery {
        let mut q = AuditQuery::default();
        for (key, value) in pairs {
            let value = Some((*value).to_owned());
            match *key {
                "actor" => q.actor = value,
                "message_id" => q.message_id = value,
                "action" => q.action = value,
                "counterpart" => q.counterpart = value,
                "from" => q.from = value,
                "to" => q.to = value,
                _ => {}
            }
        }
        q
    }

    #[test]
    fn good_filters_are_typed_and_blank_ones_are_absent() -> Result<(), ApiError> {
        let id = Uuid::from_u128(7);
        let filter = query(&[
            ("actor", "alice"),
            ("message_id", &id.to_string()),
            ("action", "message_sent"),
            ("from", "2026-01-01T00:00:00Z"),
            ("to", "2026-01-02 10:00:00 01:00"),
            ("counterpart", " "),
        ])
        .filter()?;
        assert_eq!(filter.actor.as_deref(), Some("alice"));
        assert_eq!(filter.message_id, Some(id));
        assert_eq!(filter.action.as_deref(), Some("message_sent"));
        assert_eq!(filter.counterpart, None);
        assert_eq!(filter.end().to_rfc3339(), "2026-01-02T09:00:00+00:00");
        assert!(filter.timed());
        let open = query(&[]).filter()?;
        assert!(!open.timed() && open.start() < open.end());
        assert_ne!(open.context(), filter.context());
        Ok(())
    }

    #[test]
    fn bad_filters_are_invalid_input() {
        for (key, value) in [
            ("actor", "Alice Smith"),
            ("actor", &"a".repeat(65)),
            ("counterpart", "bob;drop"),
            ("message_id", "not-a-uuid"),
            ("action", "MessageSent"),
            ("action", "message-sent"),
            ("from", "yesterday"),
            ("to", "2026-13-01T00:00:00Z"),
            ("from", "2026-01-01"),
        ] {
            assert!(
                matches!(
                    query(&[(key, value)]).filter(),
                    Err(ApiError::InvalidInput(_))
                ),
                "{key}={value}"
            );
        }
        let reversed = query(&[
            ("from", "2026-02-01T00:00:00Z"),
            ("to", "2026-01-01T00:00:00Z"),
        ]);
        assert!(reversed.filter().is_err());
    }
}
