//! Two gateway processes on one database, each answering sessions and the directory from its own
//! memory: a change made through one is obeyed by the other on its very next request.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

mod support;

use support::*;

/// Two seeded gateways with their metrics listeners on.
async fn two_gateways(options: &PgConnectOptions) -> (Running, Running) {
    let url = database_url(options);
    assert!(hs_admin(&url, &["migrate"]).status.success());
    assert!(hs_admin(&url, &["seed-demo"]).status.success());
    let metrics = [("METRICS_ADDR", "127.0.0.1:0".to_owned())];
    let a = spawn_gateway(&url, &metrics).await;
    let b = spawn_gateway(&url, &metrics).await;
    (a, b)
}

/// The text of the gateway's `/metrics`.
async fn metrics_text(gateway: &Running) -> String {
    let port = gateway
        .output()
        .lines()
        .find_map(|line| logged_port(line, "metrics listening"))
        .expect("metrics port logged");
    let (_, _, metrics) = Client::new(port)
        .request("GET", "/metrics", None, None, None)
        .await;
    metrics
}

/// The sum of the series of counter `name` whose labels contain every one of `labels`.
async fn counter(gateway: &Running, name: &str, labels: &[&str]) -> f64 {
    metrics_text(gateway)
        .await
        .lines()
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// How many look-ups of `cache` the gateway answered from memory.
async fn hits(gateway: &Running, cache: &str) -> f64 {
    let series = format!(r#"cache="{cache}""#);
    counter(
        gateway,
        "account_cache_lookups_total",
        &[&series, r#"outcome="hit""#],
    )
    .await
}

async fn status(
    client: &Client,
    method: &str,
    path: &str,
    session: &Login,
    body: Option<&str>,
) -> String {
    let (status, _, answer) = client
        .request(method, path, Some(session), body, None)
        .await;
    format!("{status} {answer}")
}

fn is(answer: &str, code: u16) -> bool {
    answer.starts_with(&format!("HTTP/1.1 {code} "))
}

#[sqlx::test]
async fn a_logout_or_a_disable_on_one_gateway_ends_the_session_on_another_at_once(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (a, b) = two_gateways(&options).await;
    let (on_a, on_b) = (Client::new(a.port), Client::new(b.port));

    let alice = on_a.login("alice").await;
    for _ in 0..3 {
        let answer = status(&on_b, "GET", "/api/auth/me", &alice, None).await;
        assert!(is(&answer, 200), "{answer}");
    }
    assert!(hits(&b, "sessions").await >= 2.0, "B used its memory");
    let answer = status(&on_a, "POST", "/api/auth/logout", &alice, None).await;
    assert!(is(&answer, 204), "{answer}");
    let answer = status(&on_b, "GET", "/api/auth/me", &alice, None).await;
    assert!(
        is(&answer, 401),
        "after the logout on A, B answered {answer}"
    );

    let bob = on_a.login("bob").await;
    for _ in 0..3 {
        let answer = status(&on_b, "GET", "/api/auth/me", &bob, None).await;
        assert!(is(&answer, 200), "{answer}");
    }
    let admin = on_a.login("admin").await;
    let answer = status(&on_a, "POST", "/api/admin/users/bob/disable", &admin, None).await;
    assert!(is(&answer, 200), "{answer}");
    let answer = status(&on_b, "GET", "/api/auth/me", &bob, None).await;
    assert!(
        is(&answer, 401),
        "after bob was disabled on A, B answered {answer}"
    );
}

#[sqlx::test]
async fn approvals_and_users_changed_through_one_gateway_are_obeyed_by_another_at_once(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (a, b) = two_gateways(&options).await;
    let (on_a, on_b) = (Client::new(a.port), Client::new(b.port));
    let admin = on_a.login("admin").await;
    let carol = on_b.login("dr_carol").await;
    let alice = on_b.login("alice").await;

    // A revoked approval stops the clinician's next message.
    let to_alice = r#"{"recipient_username":"alice","message":"How was the week?"}"#;
    for _ in 0..3 {
        let answer = status(
            &on_b,
            "POST",
            "/api/clinician/message",
            &carol,
            Some(to_alice),
        )
        .await;
        assert!(is(&answer, 201), "{answer}");
    }
    assert!(hits(&b, "approvals").await >= 2.0, "B used its memory");
    let revoke = r#"{"clinician":"dr_carol","patient":"alice","status":"revoked"}"#;
    let answer = status(
        &on_a,
        "PUT",
        "/api/admin/patient-approvals",
        &admin,
        Some(revoke),
    )
    .await;
    assert!(is(&answer, 200), "{answer}");
    let answer = status(
        &on_b,
        "POST",
        "/api/clinician/message",
        &carol,
        Some(to_alice),
    )
    .await;
    assert!(
        is(&answer, 403),
        "after the revocation on A, B answered {answer}"
    );
    let direct = r#"{"recipient":"alice","content":"Still there?"}"#;
    let answer = status(&on_b, "POST", "/api/messages/send", &carol, Some(direct)).await;
    assert!(is(&answer, 403), "{answer}");

    // A user unknown to B (and remembered so) exists as soon as A has created them.
    let to_newbie = r#"{"recipient":"newbie","content":"Welcome!"}"#;
    for _ in 0..2 {
        let answer = status(&on_b, "POST", "/api/messages/send", &alice, Some(to_newbie)).await;
        assert!(is(&answer, 404), "{answer}");
    }
    assert!(
        hits(&b, "users").await >= 1.0,
        "B answered users from memory"
    );
    let create = r#"{"username":"newbie","role":"patient","password":"a-long-password"}"#;
    let answer = status(&on_a, "POST", "/api/admin/users", &admin, Some(create)).await;
    assert!(is(&answer, 201), "{answer}");
    let answer = status(&on_b, "POST", "/api/messages/send", &alice, Some(to_newbie)).await;
    assert!(
        is(&answer, 201),
        "after newbie was created on A, B answered {answer}"
    );
}

/// Issue 12, point 3: a new message is decided on an empty aggregate and appended, without
/// reading the log first; a command on an existing message loads it.
#[sqlx::test]
async fn a_send_of_a_new_message_loads_no_aggregate_and_a_read_mark_loads_one(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (a, _b) = two_gateways(&options).await;
    let client = Client::new(a.port);
    let alice = client.login("alice").await;
    let bob = client.login("bob").await;
    let before = counter(&a, "aggregate_loads_total", &[]).await;
    let mut last = String::new();
    for n in 0..5 {
        let body = format!(r#"{{"recipient":"bob","content":"Fresh {n}"}}"#);
        let answer = status(&client, "POST", "/api/messages/send", &alice, Some(&body)).await;
        assert!(is(&answer, 201), "{answer}");
        last = answer;
    }
    assert_eq!(
        counter(&a, "aggregate_loads_total", &[]).await,
        before,
        "five sends of new messages loaded an aggregate"
    );
    let id = last
        .split("\"message_id\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the 201 names the message");
    let answer = status(
        &client,
        "PATCH",
        &format!("/api/messages/{id}/read"),
        &bob,
        None,
    )
    .await;
    assert!(is(&answer, 200), "{answer}");
    assert!(
        counter(&a, "aggregate_loads_total", &[]).await > before,
        "the read mark loaded its message"
    );
}
