//! `GET /api/messages/search-recipients`: who the compose form may suggest, and the privacy
//! rule that patients never list other patients.

#[path = "../../projections/tests/common/mod.rs"]
mod projector;
mod support;

use std::time::Duration;

use accounts::{create_user, NewUser};
use axum::http::StatusCode;
use events::Role;
use projector::{catch_up_all, World};
use sqlx::PgPool;
use support::{encode, get, login, ok, router, strings, Result};

const WAIT: Duration = Duration::from_secs(5);

async fn user(pool: &PgPool, username: &str, role: Role, display_name: &str) -> Result<()> {
    create_user(
        pool,
        NewUser {
            username: username.into(),
            role,
            password: "healing-demo".into(),
            display_name: Some(display_name.into()),
        },
    )
    .await?;
    Ok(())
}

fn path(q: &str) -> String {
    format!("/api/messages/search-recipients?q={}", encode(q))
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn patients_find_their_clinicians_and_counterparts_and_never_other_patients(
    pool: PgPool,
) -> Result<()> {
    // alice (patient) is approved for dr_carol; bob wrote to her; eve and dr_dave never did.
    let world = World::new(pool.clone()).await?;
    world
        .send("bob", "alice", Some("Hi"), "Hello alice")
        .await?;
    catch_up_all(&pool).await?;
    let app = router(&pool, None, WAIT)?;

    let alice = login(&pool, "alice").await?;
    let found = ok(&app, &path("display"), &alice).await?;
    assert_eq!(strings(&found["users"], "username"), ["bob", "dr_carol"]);
    assert_eq!(strings(&found["users"], "role"), ["patient", "clinician"]);
    assert_eq!(found["users"][1]["display_name"], "dr_carol (display)");
    for q in ["eve", "dave", "admin", "auditor", "alice"] {
        let body = ok(&app, &path(q), &alice).await?;
        assert_eq!(
            strings(&body["users"], "username"),
            Vec::<String>::new(),
            "{q}"
        );
    }
    // A patient with no clinician and no conversation finds nobody at all.
    let eve = login(&pool, "eve").await?;
    let body = ok(&app, &path("a"), &eve).await?;
    assert_eq!(strings(&body["users"], "username"), Vec::<String>::new());
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn clinicians_find_clinicians_and_their_own_patients_by_any_part_of_either_name(
    pool: PgPool,
) -> Result<()> {
    World::new(pool.clone()).await?;
    user(&pool, "dr_fifty", Role::Clinician, "Fifty 50% Clinic").await?;
    user(&pool, "drxray", Role::Clinician, "Xavier Ray").await?;
    user(&pool, "emile", Role::Patient, "Emile Zola").await?;
    user(&pool, "dr_ilkay", Role::Clinician, "Dr. İlkay Öztürk").await?;
    let app = router(&pool, None, WAIT)?;
    let carol = login(&pool, "dr_carol").await?;

    let body = ok(&app, &path("(DISPLAY)"), &carol).await?;
    assert_eq!(
        strings(&body["users"], "username"),
        ["alice", "dr_dave"],
        "her approved patient and the other clinician; never herself, other patients, staff"
    );
    // `_` and `%` are the characters themselves, not LIKE wildcards.
    let body = ok(&app, &path("dr_"), &carol).await?;
    assert_eq!(
        strings(&body["users"], "username"),
        ["dr_dave", "dr_fifty", "dr_ilkay"]
    );
    let body = ok(&app, &path("50%"), &carol).await?;
    assert_eq!(strings(&body["users"], "username"), ["dr_fifty"]);
    let body = ok(&app, &path("%"), &carol).await?;
    assert_eq!(strings(&body["users"], "username"), ["dr_fifty"]);
    // A display name, case-insensitively, and one or two characters.
    let body = ok(&app, &path("RAY"), &carol).await?;
    assert_eq!(strings(&body["users"], "username"), ["drxray"]);
    let body = ok(&app, &path("x"), &carol).await?;
    assert_eq!(strings(&body["users"], "username"), ["drxray"]);
    // Non-ASCII letters in either case, as written (the database lower-cases both sides).
    for q in ["İlkay", "ÖZTÜRK", "öztürk"] {
        let body = ok(&app, &path(q), &carol).await?;
        assert_eq!(strings(&body["users"], "username"), ["dr_ilkay"], "{q}");
    }
    // A patient not approved for her is not offered.
    let body = ok(&app, &path("zola"), &carol).await?;
    assert_eq!(strings(&body["users"], "username"), Vec::<String>::new());
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn at_most_twenty_by_username_and_none_for_admins_and_auditors(pool: PgPool) -> Result<()> {
    World::new(pool.clone()).await?;
    for i in 0..25 {
        user(&pool, &format!("dr_m{i:02}"), Role::Clinician, "Many").await?;
    }
    let app = router(&pool, None, WAIT)?;
    let carol = login(&pool, "dr_carol").await?;
    let body = ok(&app, &path("many"), &carol).await?;
    let expected: Vec<String> = (0..20).map(|i| format!("dr_m{i:02}")).collect();
    assert_eq!(strings(&body["users"], "username"), expected);
    for staff in ["admin", "auditor"] {
        let cookie = login(&pool, staff).await?;
        let body = ok(&app, &path("dr"), &cookie).await?;
        assert_eq!(body["users"], serde_json::json!([]), "{staff}");
    }
    Ok(())
}

#[sqlx::test(migrator = "migrations::MIGRATOR")]
async fn texts_outside_the_contract_are_invalid_input_and_a_stranger_is_unauthenticated(
    pool: PgPool,
) -> Result<()> {
    World::new(pool.clone()).await?;
    let app = router(&pool, None, WAIT)?;
    let carol = login(&pool, "dr_carol").await?;
    let long = "a".repeat(65);
    for q in [
        None,
        Some(""),
        Some("   "),
        Some(long.as_str()),
        Some("da\u{7}ve"),
        Some("a\nb"),
    ] {
        let uri = match q {
            Some(q) => path(q),
            None => "/api/messages/search-recipients".to_owned(),
        };
        let (status, body) = get(&app, &uri, Some(&carol), None).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q:?}: {body}");
        assert_eq!(body["error"]["code"], "invalid_input", "{q:?}: {body}");
    }
    let body = ok(&app, &path(&"a".repeat(64)), &carol).await?;
    assert_eq!(body["users"], serde_json::json!([]));
    let (status, _) = get(&app, &path("dave"), None, None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    Ok(())
}
