//! Input limits and text rules of `API.md`, shared by the domain and the HTTP edges.
//!
//! Every text a client gives goes through one of the [`TextKind`] rules here, so that the
//! domain (content, subject), the accounts (display name, password) and the query side (search
//! text) refuse the same characters with the same reasons:
//!
//! - control characters (`Cc`: C0, DEL, C1) are refused: PostgreSQL refuses NUL in `text`
//!   and `jsonb`, and the others are terminal escapes or mojibake nobody types. Content keeps
//!   line feed, carriage return and tab; one-line fields (subject, display name, search) keep
//!   none.
//! - bidi overrides and isolates (U+202A to U+202E, U+2066 to U+2069) are refused in content
//!   and one-line fields: they reorder what a reader sees around them (a reply that reads
//!   differently than it was written) and right-to-left text does not need them. The marks
//!   U+200E, U+200F and U+061C stay allowed.
//! - unassigned code points are allowed: they are valid Unicode, and a table older than the
//!   client's would otherwise refuse tomorrow's emoji.
//! - "not blank" means at least one visible character: whitespace, format characters
//!   (U+200B, U+200C, U+200D, U+2060, U+FEFF, U+00AD...), combining marks without a base and
//!   the few letters that render as nothing (Hangul fillers, the blank Braille pattern) do not
//!   count.

use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

use crate::error::MessageError;

/// Longest subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 255;
/// Longest content, in characters.
pub const MAX_CONTENT_CHARS: usize = 10_000;
/// Longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 64;
/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 128;
/// Longest search text (`q`), in characters.
pub const MAX_SEARCH_CHARS: usize = 200;
/// Shortest and longest password, in characters (argon2 takes more; the bound caps its work).
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Which characters a field admits besides visible text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// Message content: line breaks (`\n`, `\r`, U+2028, U+2029) and tabs too.
    Content,
    /// One line (subject, display name, search text): no control character, no line break.
    Line,
    /// A password: anything but control characters, invisible ones included.
    Secret,
}

/// What is wrong with a text; shown after the field's name (`"q is blank..."`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("is blank (it needs at least one visible character)")]
    Blank,
    #[error("must be {min} to {max} characters")]
    Length { min: usize, max: usize },
    #[error("contains U+{:04X}, a control or bidi-override character", u32::from(*.0))]
    Forbidden(char),
}

/// The first character of `text` that `kind` refuses.
pub fn forbidden_char(text: &str, kind: TextKind) -> Option<char> {
    text.chars().find(|&c| is_forbidden(c, kind))
}

fn is_forbidden(c: char, kind: TextKind) -> bool {
    match kind {
        TextKind::Secret => c.is_control(),
        TextKind::Content => {
            (c.is_control() && !matches!(c, '\n' | '\r' | '\t')) || is_bidi_override(c)
        }
        TextKind::Line => c.is_control() || is_bidi_override(c) || is_line_break(c),
    }
}

fn is_bidi_override(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

/// Letters and symbols that render as nothing.
const BLANK_GLYPHS: [char; 5] = ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}', '\u{2800}'];

/// Whether `c` shows something on its own: not whitespace, not a control or format
/// character, not a combining mark, not one of the blank letters.
pub fn is_visible(c: char) -> bool {
    if c.is_whitespace() || BLANK_GLYPHS.contains(&c) {
        return false;
    }
    let invisible_group = matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Mark | GeneralCategoryGroup::Separator
    );
    let invisible_other = matches!(
        c.general_category(),
        GeneralCategory::Control | GeneralCategory::Format | GeneralCategory::Surrogate
    );
    !invisible_group && !invisible_other
}

/// Whether `text` has at least one visible character.
pub fn has_visible(text: &str) -> bool {
    text.chars().any(is_visible)
}

/// A required text: no refused character, `1..=max` characters, at least one visible.
pub fn check_text(text: &str, kind: TextKind, max: usize) -> Result<(), TextError> {
    if let Some(c) = forbidden_char(text, kind) {
        return Err(TextError::Forbidden(c));
    }
    if text.chars().count() > max {
        return Err(TextError::Length { min: 1, max });
    }
    if !has_visible(text) {
        return Err(TextError::Blank);
    }
    Ok(())
}

/// An optional one-line text (subject, display name): refused characters are an error; a
/// text without a visible character is no text; the rest is trimmed and at most `max`.
pub fn optional_line(text: Option<String>, max: usize) -> Result<Option<String>, TextError> {
    let Some(text) = text else {
        return Ok(None);
    };
    if let Some(c) = forbidden_char(&text, TextKind::Line) {
        return Err(TextError::Forbidden(c));
    }
    if !has_visible(&text) {
        return Ok(None);
    }
    let trimmed = text.trim();
    if trimmed.chars().count() > max {
        return Err(TextError::Length { min: 1, max });
    }
    Ok(Some(trimmed.to_owned()))
}

/// A new password: 8 to 256 characters, none of them a control character.
pub fn check_password(password: &str) -> Result<(), TextError> {
    if let Some(c) = forbidden_char(password, TextKind::Secret) {
        return Err(TextError::Forbidden(c));
    }
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(TextError::Length {
            min: MIN_PASSWORD_CHARS,
            max: MAX_PASSWORD_CHARS,
        });
    }
    Ok(())
}

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

/// Content is 1 to 10,000 characters, at least one visible, no control character but line
/// breaks and tabs.
pub fn check_content(content: &str) -> Result<(), MessageError> {
    check_text(content, TextKind::Content, MAX_CONTENT_CHARS)
        .map_err(|_| MessageError::InvalidContent)
}

/// A subject: given, it is one line of at most 255 characters; without a visible character
/// it is no subject.
pub fn clean_subject(subject: Option<String>) -> Result<Option<String>, MessageError> {
    optional_line(subject, MAX_SUBJECT_CHARS).map_err(|_| MessageError::SubjectTooLong)
}

/// Whether `subject` as given passes [`clean_subject`].
pub fn check_subject(subject: Option<&str>) -> Result<(), MessageError> {
    clean_subject(subject.map(str::to_owned)).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_api_alphabet() {
        for ok in ["alice", "dr_carol", "a.b-c", "x", &"a".repeat(64)] {
            assert!(is_valid_username(ok), "{ok}");
        }
        for bad in ["", "Alice", "a b", "ä", "a/b", "a\0", &"a".repeat(65)] {
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
    fn each_kind_refuses_its_characters() {
        let cases: [(&str, [bool; 3]); 12] = [
            // (text, [refused as Content, as Line, as Secret])
            ("plain", [false, false, false]),
            ("a\nb\r\n\tc", [false, true, true]),
            ("a\0b", [true, true, true]),
            ("a\u{1B}[31m", [true, true, true]),
            ("a\u{7F}", [true, true, true]),
            ("a\u{85}b", [true, true, true]),
            ("a\u{9B}b", [true, true, true]),
            ("abc\u{202E}fed", [true, true, false]),
            ("\u{2067}x\u{2069}", [true, true, false]),
            ("a\u{2028}b", [false, true, false]),
            ("שלום \u{200F}ok", [false, false, false]),
            ("\u{E000}\u{10FFFD}\u{50000}", [false, false, false]),
        ];
        for (text, refused) in cases {
            let kinds = [TextKind::Content, TextKind::Line, TextKind::Secret];
            let got = kinds.map(|kind| forbidden_char(text, kind).is_some());
            assert_eq!(got, refused, "{text:?}");
        }
    }

    #[test]
    fn only_visible_characters_make_a_text_not_blank() {
        for blank in [
            "",
            " \n\t",
            "\u{200B}",
            "\u{200C}\u{200D}",
            "\u{2060}\u{FEFF}",
            "\u{00A0}\u{3000}\u{2003}",
            "\u{0301}\u{0308}",
            "\u{00AD}",
            "\u{3164}\u{115F}",
            "\u{2800}",
            "\u{FE0F}",
            "\u{E0041}",
        ] {
            assert!(!has_visible(blank), "{blank:?}");
        }
        for visible in ["a", "e\u{0301}", "\u{200B}.", "😀", "中", "\u{E000}", "٣"] {
            assert!(has_visible(visible), "{visible:?}");
        }
    }

    #[test]
    fn a_required_text_reports_the_first_problem() {
        assert_eq!(
            check_text("a\0", TextKind::Line, 200),
            Err(TextError::Forbidden('\0'))
        );
        assert_eq!(
            check_text(&"x".repeat(201), TextKind::Line, 200),
            Err(TextError::Length { min: 1, max: 200 })
        );
        assert_eq!(
            check_text("\u{200B}", TextKind::Line, 200),
            Err(TextError::Blank)
        );
        assert_eq!(
            TextError::Forbidden('\0').to_string(),
            "contains U+0000, a control or bidi-override character"
        );
    }

    #[test]
    fn an_optional_line_is_trimmed_and_blank_means_absent() {
        assert_eq!(optional_line(None, 255), Ok(None));
        assert_eq!(optional_line(Some(" \u{200B} ".into()), 255), Ok(None));
        assert_eq!(
            optional_line(Some("  Budget ".into()), 255),
            Ok(Some("Budget".into()))
        );
        assert_eq!(
            optional_line(Some("\0".into()), 255),
            Err(TextError::Forbidden('\0'))
        );
        assert_eq!(
            optional_line(Some("a\nb".into()), 255),
            Err(TextError::Forbidden('\n'))
        );
        assert!(optional_line(Some("s".repeat(255)), 255).is_ok());
        assert!(optional_line(Some("s".repeat(256)), 255).is_err());
    }

    #[test]
    fn passwords_take_anything_but_control_characters() {
        assert!(check_password("correct horse \u{200B}é").is_ok());
        assert!(check_password("        ").is_ok());
        assert!(check_password("short").is_err());
        assert!(check_password(&"p".repeat(257)).is_err());
        assert_eq!(
            check_password("password\0"),
            Err(TextError::Forbidden('\0'))
        );
    }
}
