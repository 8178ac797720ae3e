//! The per-user bucket shared by two gateway binaries through Redis (`REDIS_URL`, default the
//! machine's `redis://127.0.0.1:6379`; deploy/test.sh starts a private one when none answers),
//! and the fallback to each process's own bucket when Redis does not answer.

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

mod support;

use support::*;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A send's status.
async fn send(client: &Client, from: &Login, n: usize) -> u16 {
    let body = json!({"recipient": "bob", "content": format!("message {n}")});
    call(client, "POST", "/api/messages/send", from, Some(body))
        .await
        .0
}

#[sqlx::test]
async fn two_gateways_share_one_bucket_per_user_through_redis(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let url = database_url(&options);
    assert!(hs_admin(&url, &["migrate"]).status.success());
    assert!(hs_admin(&url, &["seed-demo"]).status.success());
    // A prefix of this run's own, so that nothing else sharing the Redis counts here.
    let prefix = format!("hs-test-{}", uuid::Uuid::new_v4());
    let env = [
        ("REDIS_URL", redis_url()),
        ("RATE_LIMIT_REDIS_PREFIX", prefix),
        ("RATE_LIMIT_USER_BURST", "4".to_owned()),
        ("RATE_LIMIT_USER_PER_SECOND", "0.05".to_owned()),
    ];
    let (a, b) = (
        spawn_gateway(&url, &env).await,
        spawn_gateway(&url, &env).await,
    );
    let (a, b) = (Client::new(a.port), Client::new(b.port));
    let (on_a, on_b) = (a.login("alice").await, b.login("alice").await);
    let mut statuses = Vec::new();
    for n in 0..6 {
        let (client, session) = if n % 2 == 0 { (&a, &on_a) } else { (&b, &on_b) };
        statuses.push(send(client, session, n).await);
    }
    assert_eq!(
        statuses,
        [201, 201, 201, 201, 429, 429],
        "4 tokens for alice across both instances, not 4 on each"
    );
}

#[sqlx::test]
async fn without_redis_each_gateway_keeps_the_limit_alone(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let url = database_url(&options);
    assert!(hs_admin(&url, &["migrate"]).status.success());
    assert!(hs_admin(&url, &["seed-demo"]).status.success());
    // Nothing listens on port 1: every check falls back to the process's own bucket.
    let env = [
        ("REDIS_URL", "redis://127.0.0.1:1".to_owned()),
        ("RATE_LIMIT_USER_BURST", "3".to_owned()),
        ("RATE_LIMIT_USER_PER_SECOND", "0.05".to_owned()),
    ];
    let gateway = spawn_gateway(&url, &env).await;
    let client = Client::new(gateway.port);
    let alice = client.login("alice").await;
    let mut statuses = Vec::new();
    for n in 0..4 {
        statuses.push(send(&client, &alice, n).await);
    }
    assert_eq!(statuses, [201, 201, 201, 429], "the local bucket decides");
    assert!(
        gateway.output().contains("this process decides alone"),
        "the fallback is logged:\n{}",
        gateway.output()
    );
}
