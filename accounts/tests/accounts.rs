//! Users, approvals and the directory against a real, freshly migrated PostgreSQL.

use accounts::{
    authenticate, create_user, set_approval, ApprovalStatus, NewUser, PgDirectory, UserError,
};
use events::{Directory, Role};
use sqlx::PgPool;

fn new_user(username: &str, role: Role) -> NewUser {
    NewUser {
        username: username.into(),
        role,
        password: "healing-demo".into(),
        display_name: None,
    }
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_created_user_logs_in_with_their_password_only(pool: PgPool) -> Result<(), UserError> {
    let user = create_user(&pool, new_user("alice", Role::Patient)).await?;
    assert_eq!(user.display_name, "alice");
    assert!(authenticate(&pool, "alice", "healing-demo")
        .await?
        .is_some());
    assert!(authenticate(&pool, "alice", "wrong-password")
        .await?
        .is_none());
    assert!(authenticate(&pool, "nobody", "healing-demo")
        .await?
        .is_none());
    assert!(authenticate(&pool, "Not Valid", "healing-demo")
        .await?
        .is_none());
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn a_taken_username_is_a_conflict(pool: PgPool) -> Result<(), UserError> {
    create_user(&pool, new_user("alice", Role::Patient)).await?;
    let again = create_user(&pool, new_user("alice", Role::Clinician)).await;
    assert!(matches!(again, Err(UserError::AlreadyExists(_))));
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn bad_user_input_is_rejected_before_any_write(pool: PgPool) -> Result<(), UserError> {
    let mut short = new_user("alice", Role::Patient);
    short.password = "short".into();
    assert!(matches!(
        create_user(&pool, short).await,
        Err(UserError::InvalidInput(_))
    ));
    assert!(matches!(
        create_user(&pool, new_user("Alice", Role::Patient)).await,
        Err(UserError::InvalidInput(_))
    ));
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await?;
    assert_eq!(count, 0);
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn the_directory_answers_roles_and_approvals(pool: PgPool) -> Result<(), UserError> {
    create_user(&pool, new_user("alice", Role::Patient)).await?;
    create_user(&pool, new_user("dr_carol", Role::Clinician)).await?;
    let directory = PgDirectory::new(pool.clone());
    let found = directory
        .find_user("dr_carol")
        .await
        .map_err(|e| UserError::InvalidInput(e.to_string()))?;
    assert_eq!(found.map(|u| u.role), Some(Role::Clinician));
    let check = |d: &PgDirectory| {
        let d = d.clone();
        async move {
            d.is_assigned("dr_carol", "alice")
                .await
                .map_err(|e| UserError::InvalidInput(e.to_string()))
        }
    };
    assert!(!check(&directory).await?);
    set_approval(&pool, "dr_carol", "alice", ApprovalStatus::Approved).await?;
    assert!(check(&directory).await?);
    set_approval(&pool, "dr_carol", "alice", ApprovalStatus::Revoked).await?;
    assert!(!check(&directory).await?);
    assert!(matches!(
        set_approval(&pool, "alice", "dr_carol", ApprovalStatus::Approved).await,
        Err(UserError::WrongRole { .. })
    ));
    Ok(())
}
