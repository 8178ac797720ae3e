//! Query-string parameters: `limit`, `cursor`, `q`, validated into the API's 400s.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use events::limits::{check_text, TextKind, MAX_SEARCH_CHARS};
use http_edge::ApiError;
use serde::Deserialize;

/// Default and largest page size of `API.md`.
pub(crate) const DEFAULT_LIMIT: i64 = 20;
pub(crate) const MAX_LIMIT: i64 = 100;

/// The raw query string of a list endpoint.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListParams {
    limit: Option<String>,
    cursor: Option<String>,
    q: Option<String>,
    archived: Option<String>,
    unread_only: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Query::<ListParams>::try_from_uri(&parts.uri)
            .map(|Query(params)| params)
            .map_err(|_| ApiError::InvalidInput("malformed query string".into()))
    }
}

impl ListParams {
    /// `limit`: 1 to 100, default 20.
    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit.as_deref() {
            None => Ok(DEFAULT_LIMIT),
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| ApiError::InvalidInput("limit must be 1 to 100".into())),
        }
    }

    /// `cursor`, as given (opened by the endpoint, which knows its scope).
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// The inbox's `archived` filter: `true` or `false` (default).
    pub fn archived(&self) -> Result<bool, ApiError> {
        flag("archived", self.archived.as_deref())
    }

    /// The inbox's `unread_only` filter: `true` or `false` (default).
    pub fn unread_only(&self) -> Result<bool, ApiError> {
        flag("unread_only", self.unread_only.as_deref())
    }

    /// `q`: one line of 1 to 200 characters with a visible one (the text rules of
    /// `events::limits`).
    pub fn search_text(&self) -> Result<&str, ApiError> {
        self.line(MAX_SEARCH_CHARS)
    }

    /// `q` of a recipient search: one line of 1 to 64 characters with a visible one.
    pub fn recipient_text(&self) -> Result<&str, ApiError> {
        self.line(MAX_RECIPIENT_SEARCH_CHARS)
    }

    /// `q` as one line of 1 to `max` characters with a visible one.
    fn line(&self, max: usize) -> Result<&str, ApiError> {
        let q = self.q.as_deref().unwrap_or_default();
        check_text(q, TextKind::Line, max).map_err(|e| ApiError::InvalidInput(format!("q {e}")))?;
        Ok(q)
    }
}

/// A boolean query parameter: absent is false.
fn flag(name: &str, raw: Option<&str>) -> Result<bool, ApiError> {
    match raw {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::InvalidInput(format!(
            "{name} must be true or false"
        ))),
    }
}

/// Longest text of a recipient search (`GET /api/messages/search-recipients`), in characters.
pub(crate) const MAX_RECIPIENT_SEARCH_CHARS: usize = 64;

/// Splits `limit + 1` fetched rows into the page and whether another page follows.
pub(crate) fn split_page<T>(mut rows: Vec<T>, limit: i64) -> (Vec<T>, bool) {
    let limit = usize::try_from(limit).unwrap_or(0);
    let more = rows.len() > limit;
    rows.truncate(limit);
    (rows, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(limit: Option<&str>, q: Option<&str>) -> ListParams {
        ListParams {
            limit: limit.map(str::to_owned),
            cursor: None,
            q: q.map(str::to_owned),
            ..ListParams::default()
        }
    }

    #[test]
    fn limits_and_search_texts_follow_the_contract() {
        for (given, expected) in [
            (None, Some(20)),
            (Some("1"), Some(1)),
            (Some("100"), Some(100)),
        ] {
            assert_eq!(params(given, None).limit().ok(), expected);
        }
        for bad in ["0", "101", "-1", "ten", ""] {
            assert!(params(Some(bad), None).limit().is_err(), "{bad}");
        }
        assert!(params(None, Some("budget")).search_text().is_ok());
        assert!(params(None, Some(&"é".repeat(200))).search_text().is_ok());
        let long = "x".repeat(201);
        for bad in [
            None,
            Some(""),
            Some("   "),
            Some("\u{200B}"),
            Some("a\0"),
            Some(&*long),
        ] {
            assert!(params(None, bad).search_text().is_err());
        }
        assert_eq!(split_page(vec![1, 2, 3], 2), (vec![1, 2], true));
        assert_eq!(split_page(vec![1, 2], 2), (vec![1, 2], false));
    }
}
