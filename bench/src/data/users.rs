//! Users and approvals in bulk: one argon2 hash (of [`PASSWORD`]) shared by every user.

use sqlx::PgPool;

use crate::data::population::{Population, PASSWORD};
use crate::error::BenchResult;

const CHUNK: u32 = 5_000;

/// Inserts every user of `population` (and the lag probes' users), and approves each patient
/// for their clinician. Returns how many users were created.
pub async fn create_users(pool: &PgPool, population: &Population) -> BenchResult<u64> {
    let hash = tokio::task::spawn_blocking(|| accounts::hash_password(PASSWORD))
        .await
        .map_err(|e| crate::BenchError::Other(format!("hashing task failed: {e}")))??;
    let mut created = 0;
    let people = population.people();
    let mut start = 0;
    while start < people {
        let end = (start + CHUNK).min(people);
        let (names, roles): (Vec<String>, Vec<String>) = (start..end)
            .map(|id| {
                (
                    population.username(id),
                    population.role(id).as_str().to_owned(),
                )
            })
            .unzip();
        created += insert_users(pool, &names, &roles, &hash).await?;
        start = end;
    }
    let (mut names, mut roles) = (Vec::new(), Vec::new());
    for i in 0..population.lag_pairs {
        let (s, r) = Population::lag_pair(i);
        names.extend([s, r]);
        roles.extend(["patient".to_owned(), "patient".to_owned()]);
    }
    created += insert_users(pool, &names, &roles, &hash).await?;
    let mut start = 0;
    while start < population.patients {
        let end = (start + CHUNK).min(population.patients);
        let (clinicians, patients): (Vec<String>, Vec<String>) = (start..end)
            .map(|p| {
                (
                    population.username(population.clinician_of(p)),
                    population.username(p),
                )
            })
            .unzip();
        sqlx::query(
            "INSERT INTO patient_approvals (clinician, patient, status)
             SELECT c, p, 'approved' FROM UNNEST($1::text[], $2::text[]) AS a (c, p)",
        )
        .bind(&clinicians)
        .bind(&patients)
        .execute(pool)
        .await?;
        start = end;
    }
    Ok(created)
}

async fn insert_users(
    pool: &PgPool,
    names: &[String],
    roles: &[String],
    hash: &str,
) -> BenchResult<u64> {
    let done = sqlx::query(
        "INSERT INTO users (username, display_name, role, password_hash)
         SELECT u, initcap(r) || ' ' || u, r, $3 FROM UNNEST($1::text[], $2::text[]) AS n (u, r)",
    )
    .bind(names)
    .bind(roles)
    .bind(hash)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
