//! Test world: real users, approvals and commands through the domain and postgres-es, so that
//! every event in the log was written exactly as the command side writes it.
//! (Shared with the query-service tests through `#[path]`.)

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use accounts::{create_user, set_approval, ApprovalStatus, NewUser, PgDirectory};
use chrono::Utc;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{AggregateContext, EventStore};
use events::{
    ArchiveCommand, Block, BlockCommand, Channel, ConversationArchive, LogPosition, Message,
    MessageCommand, ReplyToMessage, Role, ScheduledCommand, ScheduledMessage, SendMessage,
    TemplateBook, TemplateCommand, TemplateText,
};
use postgres_es::{postgres_cqrs, PostgresCqrs, PostgresEventRepository};
use sqlx::PgPool;
use uuid::Uuid;

pub type Result<T> = anyhow::Result<T>;

/// The users of the workload: two patients, two clinicians (carol has alice), an admin, an
/// auditor, and a stranger patient.
pub const USERS: &[(&str, Role)] = &[
    ("alice", Role::Patient),
    ("bob", Role::Patient),
    ("eve", Role::Patient),
    ("dr_carol", Role::Clinician),
    ("dr_dave", Role::Clinician),
    ("admin", Role::Admin),
    ("auditor", Role::Auditor),
];

pub struct World {
    pub pool: PgPool,
    cqrs: PostgresCqrs<Message>,
    store: PersistedEventStore<PostgresEventRepository, Message>,
}

impl World {
    /// A world with [`USERS`] and carol's approval for alice.
    pub async fn new(pool: PgPool) -> Result<Self> {
        let world = Self::empty(pool);
        for (name, role) in USERS {
            world.user(name, *role).await?;
        }
        set_approval(&world.pool, "dr_carol", "alice", ApprovalStatus::Approved).await?;
        Ok(world)
    }

    /// A world without users.
    pub fn empty(pool: PgPool) -> Self {
        let directory = Arc::new(PgDirectory::new(pool.clone()));
        Self {
            cqrs: postgres_cqrs::<Message>(pool.clone(), vec![], directory),
            store: PersistedEventStore::new_event_store(PostgresEventRepository::new(pool.clone())),
            pool,
        }
    }

    pub async fn user(&self, name: &str, role: Role) -> Result<()> {
        create_user(
            &self.pool,
            NewUser {
                username: name.into(),
                role,
                password: "healing-demo".into(),
                display_name: Some(format!("{name} (display)")),
            },
        )
        .await?;
        Ok(())
    }

    async fn execute(&self, id: Uuid, actor: &str, command: MessageCommand) -> Result<()> {
        let metadata = HashMap::from([
            ("actor".to_owned(), actor.to_owned()),
            ("request_id".to_owned(), Uuid::new_v4().to_string()),
            ("client_ip".to_owned(), "127.0.0.1".to_owned()),
            ("user_agent".to_owned(), "tests".to_owned()),
            ("correlation_id".to_owned(), Uuid::new_v4().to_string()),
        ]);
        self.cqrs
            .execute_with_metadata(&id.to_string(), command, metadata)
            .await
            .map_err(|e| anyhow::anyhow!("{actor}: {e}"))
    }

    pub async fn send(
        &self,
        from: &str,
        to: &str,
        subject: Option<&str>,
        content: &str,
    ) -> Result<Uuid> {
        self.send_via(from, to, subject, content, Channel::Direct)
            .await
    }

    pub async fn clinician_send(&self, from: &str, to: &str, content: &str) -> Result<Uuid> {
        self.send_via(from, to, None, content, Channel::Clinician)
            .await
    }

    async fn send_via(
        &self,
        from: &str,
        to: &str,
        subject: Option<&str>,
        content: &str,
        channel: Channel,
    ) -> Result<Uuid> {
        let id = Uuid::new_v4();
        let command = MessageCommand::Send(SendMessage {
            message_id: id,
            sender: from.into(),
            recipient: to.into(),
            subject: subject.map(str::to_owned),
            content: content.into(),
            channel,
            sent_at: Utc::now(),
        });
        self.execute(id, from, command).await?;
        Ok(id)
    }

    pub async fn reply(&self, from: &str, parent: Uuid, content: &str) -> Result<Uuid> {
        let mut context = self.store.load_aggregate(&parent.to_string()).await?;
        let parent_state = context.aggregate().state.as_ref().map(|s| s.as_parent());
        let id = Uuid::new_v4();
        let command = MessageCommand::Reply(ReplyToMessage {
            message_id: id,
            sender: from.into(),
            parent_message_id: parent,
            parent: parent_state,
            subject: None,
            content: content.into(),
            sent_at: Utc::now(),
        });
        self.execute(id, from, command).await?;
        Ok(id)
    }

    pub async fn read(&self, reader: &str, id: Uuid) -> Result<()> {
        let command = MessageCommand::MarkRead {
            message_id: id,
            reader: reader.into(),
            at: Utc::now(),
        };
        self.execute(id, reader, command).await
    }

    pub async fn delete(&self, actor: &str, id: Uuid) -> Result<()> {
        let command = MessageCommand::Delete {
            message_id: id,
            actor: actor.into(),
            at: Utc::now(),
        };
        self.execute(id, actor, command).await
    }

    pub async fn restore(&self, admin: &str, id: Uuid) -> Result<()> {
        let command = MessageCommand::Restore {
            message_id: id,
            actor: admin.into(),
            at: Utc::now(),
        };
        self.execute(id, admin, command).await
    }

    /// What the command side appends the clinician tools' streams with.
    fn writer(&self) -> command_service::streams::Writer {
        command_service::streams::Writer {
            pool: self.pool.clone(),
            directory: Arc::new(PgDirectory::new(self.pool.clone())),
            signal: command_service::CommitSignal::default(),
        }
    }

    fn metadata(actor: &str) -> command_service::EventMetadata {
        command_service::EventMetadata::scheduler(actor, "test", Uuid::new_v4())
    }

    /// Runs a command on `owner`'s templates.
    pub async fn template(&self, owner: &str, command: TemplateCommand) -> Result<()> {
        command_service::streams::execute_on::<TemplateBook>(
            &self.writer(),
            "template",
            owner,
            command,
            &Self::metadata(owner),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{owner}: {e}"))?;
        Ok(())
    }

    /// `author` schedules `content` to `to`, due `due_in` from now (scheduled two minutes
    /// before it is due, as the domain takes the time from the command).
    pub async fn schedule(
        &self,
        author: &str,
        to: &str,
        content: &str,
        due_in: chrono::Duration,
    ) -> Result<Uuid> {
        let id = Uuid::new_v4();
        let send_at = Utc::now() + due_in;
        let command = ScheduledCommand::Schedule {
            scheduled_id: id,
            author: author.into(),
            recipient: to.into(),
            subject: Some("Later".into()),
            content: content.into(),
            send_at,
            at: send_at - chrono::Duration::minutes(2),
        };
        self.scheduled(author, id, command).await?;
        Ok(id)
    }

    /// Runs a command on the scheduled message `id`.
    pub async fn scheduled(&self, actor: &str, id: Uuid, command: ScheduledCommand) -> Result<()> {
        command_service::streams::execute_on::<ScheduledMessage>(
            &self.writer(),
            "scheduled",
            &id.to_string(),
            command,
            &Self::metadata(actor),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{actor}: {e}"))?;
        Ok(())
    }

    /// `blocker` blocks `blocked` (or lifts the block).
    pub async fn block(&self, blocker: &str, blocked: &str, block: bool) -> Result<()> {
        let (blocker_name, blocked_name, at) = (blocker.to_owned(), blocked.to_owned(), Utc::now());
        let command = if block {
            BlockCommand::Block {
                blocker: blocker_name,
                blocked: blocked_name,
                at,
            }
        } else {
            BlockCommand::Unblock {
                blocker: blocker_name,
                blocked: blocked_name,
                at,
            }
        };
        command_service::streams::execute_on::<Block>(
            &self.writer(),
            "block",
            &events::block_stream(blocker, blocked),
            command,
            &Self::metadata(blocker),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{blocker}: {e}"))?;
        Ok(())
    }

    /// `owner` archives (or unarchives) their conversation with `counterpart`.
    pub async fn archive(&self, owner: &str, counterpart: &str, archive: bool) -> Result<()> {
        let command = ArchiveCommand {
            owner: owner.into(),
            counterpart: counterpart.into(),
            archive,
            at: Utc::now(),
        };
        command_service::streams::execute_on::<ConversationArchive>(
            &self.writer(),
            "archive",
            &events::archive_stream(owner, counterpart),
            command,
            &Self::metadata(owner),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{owner}: {e}"))?;
        Ok(())
    }

    /// Delivers the scheduled message `id` as the scheduler does.
    pub async fn deliver(&self, id: Uuid) -> Result<command_service::scheduler::Delivery> {
        command_service::scheduler::deliver(&self.writer(), id)
            .await
            .map_err(|e| anyhow::anyhow!("deliver: {e}"))
    }

    /// The consistency token of a message's last event (what the command side returns).
    pub async fn token_of(&self, id: Uuid) -> Result<LogPosition> {
        let (xid, global_position): (String, i64) = sqlx::query_as(
            "SELECT transaction_id::text, global_position FROM events
             WHERE aggregate_type = 'message' AND aggregate_id = $1
             ORDER BY sequence DESC LIMIT 1",
        )
        .bind(id.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(LogPosition {
            transaction_id: xid.parse()?,
            global_position,
        })
    }

    /// Events in the log.
    pub async fn event_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await?)
    }
}

/// Every command, accepted and rejected, across all roles: sends, clinician sends, replies
/// both ways, reads (and a repeated read), sender and recipient deletes, a hidden message,
/// a restore, and commands the policy refuses (which record nothing).
pub async fn mixed_workload(world: &World) -> Result<()> {
    let budget = world
        .send("alice", "bob", Some("Budget"), "Numbers for Q1")
        .await?;
    let answer = world.reply("bob", budget, "Looks fine").await?;
    world.read("alice", answer).await?;
    world.read("alice", answer).await?;
    let care = world
        .clinician_send("dr_carol", "alice", "How are you feeling?")
        .await?;
    let better = world.reply("alice", care, "Better, thanks").await?;
    world.read("dr_carol", better).await?;
    // The clinician answers (ending alice's wait in the triage), and alice reads it.
    let answered = world.reply("dr_carol", better, "Glad to hear it").await?;
    world.read("alice", answered).await?;
    let peers = world
        .send("dr_carol", "dr_dave", Some("Case"), "Second opinion?")
        .await?;
    world.delete("dr_dave", peers).await?;
    let gone = world.send("bob", "eve", None, "Meeting at noon").await?;
    world.delete("bob", gone).await?;
    world.delete("eve", gone).await?;
    world.delete("eve", gone).await?;
    world.restore("admin", gone).await?;
    let hidden = world
        .send("alice", "eve", Some("Secret"), "Budget meeting notes")
        .await?;
    world.delete("eve", hidden).await?;
    world.delete("alice", hidden).await?;
    for _ in 0..3 {
        world.send("eve", "alice", None, "ping").await?;
    }
    assert!(world
        .send("alice", "dr_dave", None, "not allowed")
        .await
        .is_err());
    assert!(world
        .send("admin", "alice", None, "not allowed")
        .await
        .is_err());
    assert!(world
        .clinician_send("dr_dave", "alice", "not assigned")
        .await
        .is_err());
    world.read("bob", budget).await?;
    assert!(
        world.read("alice", budget).await.is_err(),
        "only the recipient reads"
    );
    clinician_tools(world).await
}

/// Templates (created, changed, deleted) and scheduled messages (delivered, changed,
/// cancelled), with refusals that record nothing.
async fn clinician_tools(world: &World) -> Result<()> {
    let text = |title: &str| TemplateText::new(title.into(), Some("Hi".into()), "Body".into());
    let (kept, dropped) = (Uuid::new_v4(), Uuid::new_v4());
    for (id, title) in [(kept, "Welcome"), (dropped, "Old")] {
        let command = TemplateCommand::Create {
            template_id: id,
            owner: "dr_carol".into(),
            owner_role: Role::Clinician,
            text: text(title)?,
            at: Utc::now(),
        };
        world.template("dr_carol", command).await?;
    }
    let change = TemplateCommand::Change {
        template_id: kept,
        owner: "dr_carol".into(),
        text: text("Welcome!")?,
        at: Utc::now(),
    };
    world.template("dr_carol", change).await?;
    let delete = |id| TemplateCommand::Delete {
        template_id: id,
        owner: "dr_carol".into(),
        at: Utc::now(),
    };
    world.template("dr_carol", delete(dropped)).await?;
    assert!(world.template("dr_dave", delete(kept)).await.is_err());

    let due = world
        .schedule(
            "dr_carol",
            "alice",
            "Good morning",
            -chrono::Duration::seconds(1),
        )
        .await?;
    let later = world
        .schedule("eve", "bob", "See you", chrono::Duration::hours(2))
        .await?;
    let dropped = world
        .schedule("eve", "bob", "Never mind", chrono::Duration::hours(3))
        .await?;
    let change = ScheduledCommand::Change {
        author: "eve".into(),
        send_at: None,
        subject: Some(None),
        content: Some("See you soon".into()),
        at: Utc::now(),
    };
    world.scheduled("eve", later, change).await?;
    let cancel = |author: &str| ScheduledCommand::Cancel {
        author: author.into(),
        at: Utc::now(),
    };
    world.scheduled("eve", dropped, cancel("eve")).await?;
    assert!(world.scheduled("bob", later, cancel("bob")).await.is_err());
    world.deliver(due).await?;
    assert!(
        world
            .scheduled("dr_carol", due, cancel("dr_carol"))
            .await
            .is_err(),
        "sent: no longer pending"
    );
    // Blocks: one lifted after it refused a send, one kept, one blocked again, one refused
    // across an approval (the patients keep writing to each other after the workload).
    world.block("bob", "eve", true).await?;
    assert!(world.send("eve", "bob", None, "blocked").await.is_err());
    world.block("bob", "eve", false).await?;
    world.block("eve", "dr_dave", true).await?;
    world.block("dr_dave", "dr_carol", true).await?;
    world.block("dr_dave", "dr_carol", false).await?;
    world.block("dr_dave", "dr_carol", true).await?;
    assert!(world.block("alice", "dr_carol", true).await.is_err());
    // Archives: one brought back by the counterpart, one kept, one undone by hand.
    world.archive("alice", "bob", true).await?;
    world.send("bob", "alice", None, "back").await?;
    world.archive("eve", "alice", true).await?;
    world.archive("alice", "eve", true).await?;
    world.archive("alice", "eve", false).await?;
    world.archive("bob", "alice", true).await?;
    world
        .send("bob", "alice", None, "my own message keeps it archived")
        .await?;
    assert!(world.archive("alice", "alice", true).await.is_err());
    Ok(())
}
