//! Given-when-then tests of the Message aggregate: every rule, every event, every policy cell.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use events::{
    Channel, Directory, DirectoryError, ErrorKind, Message, MessageCommand, MessageError,
    MessageEvent, MessagingServices, ReplyToMessage, Role, SendMessage, UserInfo,
};
use uuid::Uuid;

/// An in-memory directory: the domain's only collaborator, so these tests need no I/O.
struct Seed {
    users: HashMap<String, Role>,
    approvals: HashSet<(String, String)>,
}

#[async_trait]
impl Directory for Seed {
    async fn find_user(&self, username: &str) -> Result<Option<UserInfo>, DirectoryError> {
        Ok(self.users.get(username).map(|role| UserInfo {
            username: username.to_owned(),
            role: *role,
        }))
    }

    async fn is_assigned(&self, clinician: &str, patient: &str) -> Result<bool, DirectoryError> {
        Ok(self
            .approvals
            .contains(&(clinician.to_owned(), patient.to_owned())))
    }

    async fn is_blocked_between(&self, _: &str, _: &str) -> Result<bool, DirectoryError> {
        Ok(false)
    }
}

struct Unreachable;

#[async_trait]
impl Directory for Unreachable {
    async fn find_user(&self, _: &str) -> Result<Option<UserInfo>, DirectoryError> {
        Err(DirectoryError::Store("connection refused".into()))
    }

    async fn is_assigned(&self, _: &str, _: &str) -> Result<bool, DirectoryError> {
        Err(DirectoryError::Store("connection refused".into()))
    }

    async fn is_blocked_between(&self, _: &str, _: &str) -> Result<bool, DirectoryError> {
        Err(DirectoryError::Store("connection refused".into()))
    }
}

fn seed() -> MessagingServices {
    let users = [
        ("alice", Role::Patient),
        ("bob", Role::Patient),
        ("dr_carol", Role::Clinician),
        ("dr_dave", Role::Clinician),
        ("admin", Role::Admin),
        ("auditor", Role::Auditor),
    ]
    .into_iter()
    .map(|(name, role)| (name.to_owned(), role))
    .collect();
    let approvals = [("dr_carol".to_owned(), "alice".to_owned())]
        .into_iter()
        .collect();
    Arc::new(Seed { users, approvals })
}

fn framework() -> TestFramework<Message> {
    TestFramework::with(seed())
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 10, minute, 0)
        .single()
        .expect("valid time")
}

fn id() -> Uuid {
    Uuid::from_u128(0x1234)
}

fn role_of(name: &str) -> Role {
    match name {
        "alice" | "bob" => Role::Patient,
        "dr_carol" | "dr_dave" => Role::Clinician,
        "admin" => Role::Admin,
        _ => Role::Auditor,
    }
}

fn send(sender: &str, recipient: &str) -> MessageCommand {
    MessageCommand::Send(SendMessage {
        message_id: id(),
        sender: sender.into(),
        recipient: recipient.into(),
        subject: Some("Budget".into()),
        content: "How are you feeling?".into(),
        channel: Channel::Direct,
        sent_at: at(0),
    })
}

fn sent(sender: &str, recipient: &str) -> MessageEvent {
    MessageEvent::MessageSent {
        message_id: id(),
        sender: sender.into(),
        sender_role: role_of(sender),
        recipient: recipient.into(),
        recipient_role: role_of(recipient),
        subject: Some("Budget".into()),
        content: "How are you feeling?".into(),
        parent_message_id: None,
        channel: Channel::Direct,
        sent_at: at(0),
    }
}

fn reply_to(sender: &str, parent: MessageEvent, subject: Option<&str>) -> MessageCommand {
    let mut state = Message::default();
    cqrs_es::Aggregate::apply(&mut state, parent);
    let parent = state.state.as_ref().map(|s| s.as_parent());
    MessageCommand::Reply(ReplyToMessage {
        message_id: Uuid::from_u128(0x5678),
        sender: sender.into(),
        parent_message_id: id(),
        parent,
        subject: subject.map(Into::into),
        content: "Thanks, better today.".into(),
        sent_at: at(5),
    })
}

async fn error_of(given: Vec<MessageEvent>, command: MessageCommand) -> MessageError {
    match framework()
        .given(given)
        .when_async(command)
        .await
        .inspect_result()
    {
        Ok(events) => panic!("expected an error, got {events:?}"),
        Err(err) => err,
    }
}

async fn events_of(given: Vec<MessageEvent>, command: MessageCommand) -> Vec<MessageEvent> {
    match framework()
        .given(given)
        .when_async(command)
        .await
        .inspect_result()
    {
        Ok(events) => events,
        Err(err) => panic!("expected events, got {err:?}"),
    }
}

#[tokio::test]
async fn every_cell_of_the_policy_table_for_a_first_message() {
    // (sender, recipient, allowed)
    let table = [
        ("alice", "bob", true),
        ("alice", "dr_carol", false),
        ("alice", "admin", false),
        ("alice", "auditor", false),
        ("dr_carol", "alice", true),
        ("dr_carol", "bob", false),
        ("dr_dave", "alice", false),
        ("dr_carol", "dr_dave", true),
        ("dr_carol", "admin", false),
        ("dr_carol", "auditor", false),
        ("admin", "alice", false),
        ("admin", "dr_carol", false),
        ("admin", "auditor", false),
        ("auditor", "alice", false),
        ("auditor", "dr_carol", false),
        ("auditor", "admin", false),
    ];
    for (sender, recipient, allowed) in table {
        let result = framework()
            .given_no_previous_events()
            .when_async(send(sender, recipient))
            .await
            .inspect_result();
        match (allowed, result) {
            (true, Ok(events)) => assert_eq!(events, vec![sent(sender, recipient)]),
            (false, Err(err)) => {
                assert_eq!(err.kind(), ErrorKind::Forbidden, "{sender}->{recipient}")
            }
            (allowed, other) => panic!("{sender}->{recipient}: allowed={allowed}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_patient_may_write_to_a_clinician_only_in_reply() {
    let err = error_of(vec![], send("alice", "dr_carol")).await;
    assert!(matches!(err, MessageError::PatientMayOnlyReplyToClinician));

    let events = events_of(vec![], reply_to("alice", sent("dr_carol", "alice"), None)).await;
    assert_eq!(
        events,
        vec![MessageEvent::MessageSent {
            message_id: Uuid::from_u128(0x5678),
            sender: "alice".into(),
            sender_role: Role::Patient,
            recipient: "dr_carol".into(),
            recipient_role: Role::Clinician,
            subject: Some("Re: Budget".into()),
            content: "Thanks, better today.".into(),
            parent_message_id: Some(id()),
            channel: Channel::Reply,
            sent_at: at(5),
        }]
    );
}

#[tokio::test]
async fn a_clinician_reply_still_needs_the_patient_assigned() {
    let err = error_of(vec![], reply_to("dr_dave", sent("alice", "dr_dave"), None)).await;
    assert!(matches!(err, MessageError::PatientNotAssigned { .. }));
}

#[tokio::test]
async fn reply_by_a_stranger_is_forbidden() {
    let err = error_of(vec![], reply_to("bob", sent("dr_carol", "alice"), None)).await;
    assert!(matches!(err, MessageError::NotAParticipant));
}

#[tokio::test]
async fn reply_goes_to_the_other_participant_and_keeps_a_given_subject() {
    let events = events_of(
        vec![],
        reply_to("alice", sent("alice", "bob"), Some("Another")),
    )
    .await;
    match &events[..] {
        [MessageEvent::MessageSent {
            recipient, subject, ..
        }] => {
            assert_eq!(recipient, "bob");
            assert_eq!(subject.as_deref(), Some("Another"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn reply_to_a_missing_parent_is_not_found() {
    let mut command = reply_to("alice", sent("alice", "bob"), None);
    if let MessageCommand::Reply(reply) = &mut command {
        reply.parent = None;
    }
    let err = error_of(vec![], command).await;
    assert!(matches!(err, MessageError::UnknownMessage(_)));
}

#[tokio::test]
async fn reply_to_a_parent_the_replier_deleted_is_not_found() {
    let mut command = reply_to("bob", sent("alice", "bob"), None);
    if let MessageCommand::Reply(reply) = &mut command {
        if let Some(parent) = reply.parent.as_mut() {
            parent.deleted_by_recipient = true;
        }
    }
    let err = error_of(vec![], command).await;
    assert!(matches!(err, MessageError::UnknownMessage(_)));
}

#[tokio::test]
async fn nobody_messages_themselves() {
    let err = error_of(vec![], send("alice", "alice")).await;
    assert!(matches!(err, MessageError::SelfMessage));
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn input_limits_are_invalid_input() {
    type Change = Box<dyn Fn(&mut SendMessage)>;
    let cases: Vec<(&str, Change)> = vec![
        ("empty content", Box::new(|s| s.content = String::new())),
        ("blank content", Box::new(|s| s.content = "  \n ".into())),
        ("long content", Box::new(|s| s.content = "x".repeat(10_001))),
        (
            "long subject",
            Box::new(|s| s.subject = Some("s".repeat(256))),
        ),
        (
            "bad recipient",
            Box::new(|s| s.recipient = "Bob Smith".into()),
        ),
        ("long recipient", Box::new(|s| s.recipient = "b".repeat(65))),
    ];
    for (name, change) in cases {
        let mut command = match send("alice", "bob") {
            MessageCommand::Send(s) => s,
            _ => unreachable!(),
        };
        change(&mut command);
        let err = error_of(vec![], MessageCommand::Send(command)).await;
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{name}: {err:?}");
    }
}

#[tokio::test]
async fn invalid_input_is_reported_before_an_unknown_recipient() {
    let mut command = match send("alice", "nobody") {
        MessageCommand::Send(s) => s,
        _ => unreachable!(),
    };
    let err = error_of(vec![], MessageCommand::Send(command.clone())).await;
    assert!(matches!(err, MessageError::UnknownUser(ref u) if u == "nobody"));
    command.content = String::new();
    let err = error_of(vec![], MessageCommand::Send(command)).await;
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn the_clinician_channel_is_for_clinicians_only() {
    let command = MessageCommand::Send(SendMessage {
        channel: Channel::Clinician,
        ..match send("alice", "bob") {
            MessageCommand::Send(s) => s,
            _ => unreachable!(),
        }
    });
    let err = error_of(vec![], command).await;
    assert!(matches!(err, MessageError::NotAClinician));
}

#[tokio::test]
async fn a_blank_subject_is_no_subject() {
    let command = MessageCommand::Send(SendMessage {
        subject: Some("   ".into()),
        ..match send("alice", "bob") {
            MessageCommand::Send(s) => s,
            _ => unreachable!(),
        }
    });
    match &events_of(vec![], command).await[..] {
        [MessageEvent::MessageSent { subject, .. }] => assert_eq!(subject, &None),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn sending_twice_with_the_same_id_is_a_conflict() {
    let err = error_of(vec![sent("alice", "bob")], send("alice", "bob")).await;
    assert!(matches!(err, MessageError::AlreadySent(_)));
    assert_eq!(err.kind(), ErrorKind::Conflict);
}

fn mark_read(reader: &str) -> MessageCommand {
    MessageCommand::MarkRead {
        message_id: id(),
        reader: reader.into(),
        at: at(1),
    }
}

fn read_event() -> MessageEvent {
    MessageEvent::MessageRead {
        message_id: id(),
        sender: "alice".into(),
        recipient: "bob".into(),
        read_at: at(1),
    }
}

#[tokio::test]
async fn the_recipient_marks_a_message_read_once() {
    framework()
        .given(vec![sent("alice", "bob")])
        .when_async(mark_read("bob"))
        .await
        .then_expect_events(vec![read_event()]);
    framework()
        .given(vec![sent("alice", "bob"), read_event()])
        .when_async(mark_read("bob"))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn only_the_recipient_may_mark_read() {
    let err = error_of(vec![sent("alice", "bob")], mark_read("alice")).await;
    assert!(matches!(err, MessageError::NotTheRecipient));
    let err = error_of(vec![sent("alice", "bob")], mark_read("dr_carol")).await;
    assert!(matches!(err, MessageError::NotAParticipant));
    let err = error_of(vec![], mark_read("bob")).await;
    assert!(matches!(err, MessageError::UnknownMessage(_)));
}

fn delete(actor: &str, minute: u32) -> MessageCommand {
    MessageCommand::Delete {
        message_id: id(),
        actor: actor.into(),
        at: at(minute),
    }
}

fn deleted_by_sender(minute: u32) -> MessageEvent {
    MessageEvent::MessageDeletedBySender {
        message_id: id(),
        sender: "alice".into(),
        recipient: "bob".into(),
        deleted_at: at(minute),
    }
}

fn deleted_by_recipient(minute: u32) -> MessageEvent {
    MessageEvent::MessageDeletedByRecipient {
        message_id: id(),
        sender: "alice".into(),
        recipient: "bob".into(),
        deleted_at: at(minute),
    }
}

#[tokio::test]
async fn each_side_deletes_its_own_copy_once() {
    framework()
        .given(vec![sent("alice", "bob")])
        .when_async(delete("alice", 2))
        .await
        .then_expect_events(vec![deleted_by_sender(2)]);
    framework()
        .given(vec![sent("alice", "bob")])
        .when_async(delete("bob", 2))
        .await
        .then_expect_events(vec![deleted_by_recipient(2)]);
    framework()
        .given(vec![sent("alice", "bob"), deleted_by_sender(2)])
        .when_async(delete("alice", 3))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn the_second_side_deleting_hides_the_message() {
    framework()
        .given(vec![sent("alice", "bob"), deleted_by_sender(2)])
        .when_async(delete("bob", 3))
        .await
        .then_expect_events(vec![
            deleted_by_recipient(3),
            MessageEvent::MessageHidden {
                message_id: id(),
                sender: "alice".into(),
                recipient: "bob".into(),
                deleted_at: at(3),
            },
        ]);
}

#[tokio::test]
async fn a_deleted_message_cannot_be_marked_read_by_its_recipient() {
    let err = error_of(
        vec![sent("alice", "bob"), deleted_by_recipient(2)],
        mark_read("bob"),
    )
    .await;
    assert!(matches!(err, MessageError::UnknownMessage(_)));
}

#[tokio::test]
async fn strangers_cannot_delete() {
    let err = error_of(vec![sent("alice", "bob")], delete("dr_carol", 2)).await;
    assert!(matches!(err, MessageError::NotAParticipant));
    let err = error_of(vec![], delete("alice", 2)).await;
    assert!(matches!(err, MessageError::UnknownMessage(_)));
}

fn restore(actor: &str) -> MessageCommand {
    MessageCommand::Restore {
        message_id: id(),
        actor: actor.into(),
        at: at(9),
    }
}

#[tokio::test]
async fn an_admin_restores_a_deleted_message_for_both_sides() {
    let hidden = MessageEvent::MessageHidden {
        message_id: id(),
        sender: "alice".into(),
        recipient: "bob".into(),
        deleted_at: at(3),
    };
    let restored = MessageEvent::MessageRestored {
        message_id: id(),
        sender: "alice".into(),
        recipient: "bob".into(),
        restored_by: "admin".into(),
        restored_at: at(9),
    };
    framework()
        .given(vec![
            sent("alice", "bob"),
            deleted_by_sender(2),
            deleted_by_recipient(3),
            hidden,
        ])
        .when_async(restore("admin"))
        .await
        .then_expect_events(vec![restored.clone()]);
    // After a restore both sides can delete again.
    framework()
        .given(vec![sent("alice", "bob"), deleted_by_sender(2), restored])
        .when_async(delete("alice", 10))
        .await
        .then_expect_events(vec![deleted_by_sender(10)]);
}

#[tokio::test]
async fn restore_rules() {
    let err = error_of(vec![sent("alice", "bob")], restore("admin")).await;
    assert!(matches!(err, MessageError::NotDeleted));
    assert_eq!(err.kind(), ErrorKind::Conflict);
    for actor in ["alice", "bob", "dr_carol", "auditor", "ghost"] {
        let err = error_of(
            vec![sent("alice", "bob"), deleted_by_sender(2)],
            restore(actor),
        )
        .await;
        assert!(matches!(err, MessageError::NotAnAdmin), "{actor}");
    }
    let err = error_of(vec![], restore("admin")).await;
    assert!(matches!(err, MessageError::UnknownMessage(_)));
}

#[tokio::test]
async fn an_unreachable_directory_is_an_internal_error() {
    let result = TestFramework::<Message>::with(Arc::new(Unreachable))
        .given_no_previous_events()
        .when_async(send("alice", "bob"))
        .await
        .inspect_result();
    match result {
        Err(err) => assert_eq!(err.kind(), ErrorKind::Internal),
        Ok(events) => panic!("unexpected {events:?}"),
    }
}

#[test]
fn events_have_stable_names_and_a_version() {
    use cqrs_es::DomainEvent;
    let event = sent("alice", "bob");
    assert_eq!(event.event_type(), "MessageSent");
    assert_eq!(event.event_version(), "1.0");
    let json = serde_json::to_value(&event).expect("serializes");
    let back: MessageEvent = serde_json::from_value(json).expect("deserializes");
    assert_eq!(back, event);
}
