//! Input limits of `API.md`, shared by the domain and the HTTP edges.

use crate::error::MessageError;

/// Longest subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 255;
/// Longest content, in characters.
pub const MAX_CONTENT_CHARS: usize = 10_000;
/// Longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 64;

/// A username is 1 to 64 characters of `[a-z0-9_.-]`.
pub fn is_valid_username(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_USERNAME_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
}

/// Checks a username, naming it in the error.
pub fn check_username(name: &str) -> Result<(), MessageError> {
    if is_valid_username(name) {
        Ok(())
    } else {
        Err(MessageError::InvalidUsername(name.to_owned()))
    }
}

/// Content is 1 to 10,000 characters and not blank.
pub fn check_content(content: &str) -> Result<(), MessageError> {
    if content.trim().is_empty() || content.chars().count() > MAX_CONTENT_CHARS {
        return Err(MessageError::InvalidContent);
    }
    Ok(())
}

/// A subject, when given, is at most 255 characters.
pub fn check_subject(subject: Option<&str>) -> Result<(), MessageError> {
    match subject {
        Some(s) if s.chars().count() > MAX_SUBJECT_CHARS => Err(MessageError::SubjectTooLong),
        _ => Ok(()),
    }
}

/// A blank subject is no subject.
pub fn normalize_subject(subject: Option<String>) -> Option<String> {
    subject.and_then(|s| {
        let trimmed = s.trim();
        (!trimmed.is_empty()).then(|| trimmed.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_api_alphabet() {
        for ok in ["alice", "dr_carol", "a.b-c", "x", &"a".repeat(64)] {
            assert!(is_valid_username(ok), "{ok}");
        }
        for bad in ["", "Alice", "a b", "ä", "a/b", &"a".repeat(65)] {
            assert!(!is_valid_username(bad), "{bad}");
        }
    }

    #[test]
    fn content_limits_count_characters_not_bytes() {
        assert!(check_content(&"é".repeat(10_000)).is_ok());
        assert!(check_content(&"é".repeat(10_001)).is_err());
        assert!(check_content(" \n\t").is_err());
        assert!(check_content("").is_err());
    }

    #[test]
    fn subject_limit_is_255_characters() {
        assert!(check_subject(Some(&"s".repeat(255))).is_ok());
        assert!(check_subject(Some(&"s".repeat(256))).is_err());
        assert!(check_subject(None).is_ok());
    }
}
