//! Given-when-then tests of the text rules on the commands that carry text (send, clinician
//! message, reply): control characters are refused, a text without a visible character is
//! blank, and accepted texts are kept as written.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use cqrs_es::test::TestFramework;
use events::{
    Channel, Directory, DirectoryError, ErrorKind, Message, MessageCommand, MessageError,
    MessageEvent, MessagingServices, ReplyToMessage, Role, SendMessage, UserInfo,
};
use uuid::Uuid;

/// The three users these tests need; dr_carol is assigned alice.
struct Seed(HashMap<&'static str, Role>);

#[async_trait]
impl Directory for Seed {
    async fn find_user(&self, username: &str) -> Result<Option<UserInfo>, DirectoryError> {
        Ok(self.0.get(username).map(|role| UserInfo {
            username: username.to_owned(),
            role: *role,
        }))
    }

    async fn is_assigned(&self, clinician: &str, patient: &str) -> Result<bool, DirectoryError> {
        Ok((clinician, patient) == ("dr_carol", "alice"))
    }

    async fn is_blocked_between(&self, _: &str, _: &str) -> Result<bool, DirectoryError> {
        Ok(false)
    }
}

fn framework() -> TestFramework<Message> {
    let users = [
        ("alice", Role::Patient),
        ("bob", Role::Patient),
        ("dr_carol", Role::Clinician),
    ];
    let directory: MessagingServices = Arc::new(Seed(users.into_iter().collect()));
    TestFramework::with(directory)
}

/// The commands that carry text, each with its own subject and content.
#[derive(Debug, Clone, Copy)]
enum Entry {
    Send,
    Clinician,
    Reply,
}

const ENTRIES: [Entry; 3] = [Entry::Send, Entry::Clinician, Entry::Reply];

fn parent() -> MessageEvent {
    MessageEvent::MessageSent {
        message_id: Uuid::from_u128(1),
        sender: "bob".into(),
        sender_role: Role::Patient,
        recipient: "alice".into(),
        recipient_role: Role::Patient,
        subject: Some("Budget".into()),
        content: "Shall we meet?".into(),
        parent_message_id: None,
        channel: Channel::Direct,
        sent_at: Utc.timestamp_opt(1_790_000_000, 0).unwrap(),
    }
}

/// What was already recorded, and the command carrying `subject` and `content`.
fn given_when(
    entry: Entry,
    subject: Option<&str>,
    content: &str,
) -> (Vec<MessageEvent>, MessageCommand) {
    let sent_at = Utc.timestamp_opt(1_790_000_100, 0).unwrap();
    let send = |sender: &str, recipient: &str, channel| SendMessage {
        message_id: Uuid::from_u128(2),
        sender: sender.into(),
        recipient: recipient.into(),
        subject: subject.map(Into::into),
        content: content.into(),
        channel,
        sent_at,
    };
    match entry {
        Entry::Send => (
            vec![],
            MessageCommand::Send(send("alice", "bob", Channel::Direct)),
        ),
        Entry::Clinician => (
            vec![],
            MessageCommand::Send(send("dr_carol", "alice", Channel::Clinician)),
        ),
        Entry::Reply => {
            let mut state = Message::default();
            cqrs_es::Aggregate::apply(&mut state, parent());
            let reply = ReplyToMessage {
                message_id: Uuid::from_u128(2),
                sender: "alice".into(),
                parent_message_id: Uuid::from_u128(1),
                parent: state.state.as_ref().map(|s| s.as_parent()),
                subject: subject.map(Into::into),
                content: content.into(),
                sent_at,
            };
            (vec![], MessageCommand::Reply(reply))
        }
    }
}

async fn outcome(
    entry: Entry,
    subject: Option<&str>,
    content: &str,
) -> Result<Vec<MessageEvent>, MessageError> {
    let (given, when) = given_when(entry, subject, content);
    framework()
        .given(given)
        .when_async(when)
        .await
        .inspect_result()
}

/// The subject and content of the one `MessageSent` an accepted command emits.
fn written(events: &[MessageEvent]) -> (Option<String>, String) {
    match events {
        [MessageEvent::MessageSent {
            subject, content, ..
        }] => (subject.clone(), content.clone()),
        other => panic!("expected one MessageSent, got {other:?}"),
    }
}

#[tokio::test]
async fn content_with_control_characters_or_nothing_visible_is_invalid_input() {
    let refused = [
        ("NUL", "hello\u{0}world"),
        ("NUL alone", "\u{0}"),
        ("escape", "\u{1B}[2J cleared"),
        ("bell", "ding\u{7}"),
        ("DEL", "oops\u{7F}"),
        ("C1 CSI", "a\u{9B}31m"),
        ("right-to-left override", "invoice \u{202E}fdp.exe"),
        ("isolate", "\u{2066}hidden\u{2069}"),
        ("empty", ""),
        ("whitespace", " \n\t\r "),
        ("zero-width space", "\u{200B}"),
        ("zero-width joiners", "\u{200C}\u{200D}\u{2060}"),
        ("byte-order mark", "\u{FEFF}"),
        ("no-break spaces", "\u{A0}\u{2007}\u{3000}"),
        ("combining marks alone", "\u{301}\u{308}"),
        ("hangul filler", "\u{3164}"),
        ("braille blank", "\u{2800}\u{200B} "),
    ];
    for entry in ENTRIES {
        for (name, content) in refused {
            match outcome(entry, None, content).await {
                Err(err @ MessageError::InvalidContent) => {
                    assert_eq!(err.kind(), ErrorKind::InvalidInput)
                }
                other => panic!("{entry:?}, {name}: expected InvalidContent, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn content_with_line_breaks_tabs_and_any_visible_character_is_kept_as_written() {
    let accepted = [
        "line one\nline two\r\n\tindented",
        "\u{200B}a",
        "e\u{301}",
        "😀",
        "שלום \u{200F}(1)",
        "\u{E000}",
    ];
    for entry in ENTRIES {
        for content in accepted {
            match outcome(entry, None, content).await {
                Ok(events) => assert_eq!(written(&events).1, content, "{entry:?}"),
                Err(err) => panic!("{entry:?}, {content:?}: refused with {err:?}"),
            }
        }
    }
}

#[tokio::test]
async fn subjects_are_one_line_without_control_characters() {
    let refused = [
        "a\u{0}b",
        "line\nbreak",
        "tab\there",
        "\u{1B}]0;title\u{7}",
        "\u{85}next line",
        "para\u{2029}graph",
        "\u{202E}gnp.exe",
    ];
    for entry in ENTRIES {
        for subject in refused {
            let result = outcome(entry, Some(subject), "Hello").await;
            match result {
                Err(err) => assert_eq!(err.kind(), ErrorKind::InvalidInput, "{subject:?}"),
                Ok(events) => panic!("{entry:?}, {subject:?}: accepted {events:?}"),
            }
        }
    }
}

#[tokio::test]
async fn a_subject_without_a_visible_character_is_no_subject() {
    for entry in ENTRIES {
        for subject in ["", "  ", "\u{200B}", "\u{FEFF}\u{2060}"] {
            let events = outcome(entry, Some(subject), "Hello")
                .await
                .unwrap_or_else(|err| panic!("{entry:?}, {subject:?}: {err:?}"));
            // A reply without a subject of its own takes `Re: ` + the parent's.
            let expected = match entry {
                Entry::Reply => Some("Re: Budget".to_owned()),
                Entry::Send | Entry::Clinician => None,
            };
            assert_eq!(written(&events).0, expected, "{entry:?}, {subject:?}");
        }
        let events = outcome(entry, Some("  Plans \u{1F4C5} "), "Hello")
            .await
            .unwrap_or_else(|err| panic!("{entry:?}: {err:?}"));
        assert_eq!(written(&events).0.as_deref(), Some("Plans \u{1F4C5}"));
    }
}
