//! The rules of the clinician tools' aggregates: templates (cap, ownership of ids), scheduled
//! messages (the time window, who may change them, the life cycle) and broadcasts (role, bound,
//! derived ids). The directory is an in-memory seed: no I/O.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{Duration, TimeZone, Utc};
use events::{
    broadcast_message_id, delivered_message_id, Broadcast, BroadcastCommand, Directory,
    DirectoryError, ErrorKind, MessageError, Role, ScheduledCommand, ScheduledEvent,
    ScheduledMessage, ScheduledStatus, TemplateBook, TemplateCommand, TemplateText, UserInfo,
    MAX_BROADCAST_RECIPIENTS, MAX_TEMPLATES,
};
use uuid::Uuid;

struct Seed(HashSet<(&'static str, &'static str)>);

#[async_trait]
impl Directory for Seed {
    async fn find_user(&self, username: &str) -> Result<Option<UserInfo>, DirectoryError> {
        let role = match username {
            "alice" | "bob" => Role::Patient,
            "dr_carol" | "dr_dave" => Role::Clinician,
            "admin" => Role::Admin,
            _ => return Ok(None),
        };
        Ok(Some(UserInfo {
            username: username.to_owned(),
            role,
        }))
    }

    async fn is_assigned(&self, clinician: &str, patient: &str) -> Result<bool, DirectoryError> {
        Ok(self.0.iter().any(|(c, p)| *c == clinician && *p == patient))
    }
}

fn seed() -> Seed {
    Seed(HashSet::from([("dr_carol", "alice")]))
}

fn text(title: &str) -> TemplateText {
    TemplateText::new(title.into(), None, "Body".into()).expect("valid")
}

fn create(book: &TemplateBook, id: Uuid) -> Result<(), MessageError> {
    let events = book.decide(TemplateCommand::Create {
        template_id: id,
        owner: "dr_carol".into(),
        owner_role: Role::Clinician,
        text: text("t"),
        at: Utc::now(),
    })?;
    assert_eq!(events.len(), 1);
    Ok(())
}

fn apply_all<A: cqrs_es::Aggregate>(aggregate: &mut A, events: Vec<A::Event>) {
    for event in events {
        aggregate.apply(event);
    }
}

#[test]
fn template_titles_follow_the_text_rules() {
    for bad in ["", "   ", &"t".repeat(101), "two\nlines", "\u{202e}evil"] {
        let err = TemplateText::new(bad.into(), None, "x".into()).expect_err(bad);
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
    }
    assert_eq!(text("  Welcome  ").title, "Welcome");
    assert!(
        TemplateText::new("ok".into(), None, " ".into()).is_err(),
        "blank content"
    );
}

#[test]
fn a_book_holds_at_most_200_templates_and_never_reuses_an_id() {
    let mut book = TemplateBook::default();
    for _ in 0..MAX_TEMPLATES {
        let id = Uuid::new_v4();
        create(&book, id).expect("room");
        book.templates.insert(id, Utc::now());
    }
    let err = create(&book, Uuid::new_v4()).expect_err("full");
    assert!(matches!(err, MessageError::TooManyTemplates(200)));
    assert_eq!(err.kind(), ErrorKind::Conflict);
    // Deleting one frees a place; its id stays used.
    let gone = *book.templates.keys().next().expect("one");
    let deleted = book
        .decide(TemplateCommand::Delete {
            template_id: gone,
            owner: "dr_carol".into(),
            at: Utc::now(),
        })
        .expect("delete");
    apply_all(&mut book, deleted);
    create(&book, Uuid::new_v4()).expect("room again");
    assert!(matches!(
        create(&book, gone),
        Err(MessageError::AlreadySent(_))
    ));
    let change = TemplateCommand::Change {
        template_id: gone,
        owner: "dr_carol".into(),
        text: text("again"),
        at: Utc::now(),
    };
    assert_eq!(
        book.decide(change).expect_err("gone").kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn only_clinicians_keep_templates() {
    let err = TemplateBook::default()
        .decide(TemplateCommand::Create {
            template_id: Uuid::new_v4(),
            owner: "alice".into(),
            owner_role: Role::Patient,
            text: text("t"),
            at: Utc::now(),
        })
        .expect_err("patient");
    assert_eq!(err.kind(), ErrorKind::Forbidden);
}

fn schedule(
    at: chrono::DateTime<Utc>,
    send_at: chrono::DateTime<Utc>,
    to: &str,
) -> ScheduledCommand {
    ScheduledCommand::Schedule {
        scheduled_id: Uuid::from_u128(7),
        author: "dr_carol".into(),
        recipient: to.into(),
        subject: None,
        content: "Later".into(),
        send_at,
        at,
    }
}

#[tokio::test]
async fn send_at_lies_between_one_minute_and_365_days_ahead() {
    let now = Utc
        .with_ymd_and_hms(2026, 12, 3, 9, 0, 0)
        .single()
        .expect("time");
    let empty = ScheduledMessage::default();
    for (send_at, ok) in [
        (now + Duration::seconds(59), false),
        (now + Duration::minutes(1), true),
        (now + Duration::days(365), true),
        (now + Duration::days(365) + Duration::seconds(1), false),
        (now - Duration::minutes(5), false),
    ] {
        let result = empty.decide(schedule(now, send_at, "alice"), &seed()).await;
        assert_eq!(result.is_ok(), ok, "{send_at}: {result:?}");
    }
}

#[tokio::test]
async fn scheduling_checks_the_policy_now() {
    let now = Utc::now();
    let empty = ScheduledMessage::default();
    let later = now + Duration::hours(1);
    for (to, kind) in [
        ("bob", ErrorKind::Forbidden),
        ("admin", ErrorKind::Forbidden),
        ("nobody", ErrorKind::NotFound),
        ("dr_carol", ErrorKind::InvalidInput),
    ] {
        let err = empty
            .decide(schedule(now, later, to), &seed())
            .await
            .expect_err(to);
        assert_eq!(err.kind(), kind, "{to}: {err}");
    }
}

#[tokio::test]
async fn only_the_author_changes_or_cancels_and_only_while_pending() {
    let now = Utc::now();
    let mut scheduled = ScheduledMessage::default();
    let events = scheduled
        .decide(schedule(now, now + Duration::hours(1), "alice"), &seed())
        .await
        .expect("scheduled");
    apply_all(&mut scheduled, events);
    let cancel = |author: &str| ScheduledCommand::Cancel {
        author: author.into(),
        at: now,
    };
    let err = scheduled
        .decide(cancel("bob"), &seed())
        .await
        .expect_err("bob");
    assert_eq!(
        err.kind(),
        ErrorKind::NotFound,
        "someone else's is unknown to them"
    );
    let change = ScheduledCommand::Change {
        author: "dr_carol".into(),
        send_at: None,
        subject: Some(Some("New".into())),
        content: None,
        at: now,
    };
    let events = scheduled.decide(change, &seed()).await.expect("change");
    assert!(
        matches!(&events[0], ScheduledEvent::ScheduledMessageChanged { subject: Some(s), content, .. }
        if s == "New" && content == "Later")
    );
    apply_all(&mut scheduled, events);
    let message_id = delivered_message_id(Uuid::from_u128(7));
    let delivered = scheduled
        .decide(
            ScheduledCommand::MarkDelivered {
                message_id,
                at: now,
            },
            &seed(),
        )
        .await
        .expect("deliver");
    apply_all(&mut scheduled, delivered);
    let state = scheduled.state.clone().expect("state");
    assert_eq!(state.status, ScheduledStatus::Sent);
    assert_eq!(state.message_id, Some(message_id));
    for command in [
        cancel("dr_carol"),
        ScheduledCommand::MarkDelivered {
            message_id,
            at: now,
        },
        ScheduledCommand::MarkFailed {
            reason: "x".into(),
            at: now,
        },
    ] {
        let err = scheduled.decide(command, &seed()).await.expect_err("sent");
        assert_eq!(err.kind(), ErrorKind::Conflict);
    }
    assert_eq!(
        delivered_message_id(Uuid::from_u128(7)),
        message_id,
        "derived, stable"
    );
    assert_ne!(delivered_message_id(Uuid::from_u128(8)), message_id);
}

fn broadcast(role: Role, patients: usize) -> BroadcastCommand {
    BroadcastCommand {
        broadcast_id: Uuid::from_u128(1),
        clinician: "dr_carol".into(),
        clinician_role: role,
        subject: None,
        patients: (0..patients).map(|n| format!("p{n}")).collect(),
        at: Utc::now(),
    }
}

#[test]
fn a_broadcast_is_a_clinicians_to_at_most_500_patients_with_derived_ids() {
    let empty = Broadcast::default();
    assert_eq!(
        empty
            .decide(broadcast(Role::Patient, 1))
            .expect_err("patient")
            .kind(),
        ErrorKind::Forbidden
    );
    let err = empty
        .decide(broadcast(Role::Clinician, MAX_BROADCAST_RECIPIENTS + 1))
        .expect_err("too many");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let events = empty
        .decide(broadcast(Role::Clinician, MAX_BROADCAST_RECIPIENTS))
        .expect("500");
    let mut sent = Broadcast::default();
    apply_all(&mut sent, events);
    let state = sent.sent.clone().expect("sent");
    assert_eq!(state.message_ids.len(), 500);
    assert_eq!(
        state.message_ids[3],
        broadcast_message_id(Uuid::from_u128(1), "p3")
    );
    let unique: HashSet<_> = state.message_ids.iter().collect();
    assert_eq!(unique.len(), 500);
    assert_eq!(
        sent.decide(broadcast(Role::Clinician, 1))
            .expect_err("again")
            .kind(),
        ErrorKind::Conflict
    );
}
