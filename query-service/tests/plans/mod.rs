//! Plans of prepared statements, as the service runs them: each statement is prepared and
//! explained both as a custom and as a generic plan, and neither may scan a table sequentially.

/// The custom and the generic plan of `statement` run with `args`, each checked to use an index
/// and no sequential scan; returns `(mode, plan)` for further checks.
pub async fn indexed_plans(
    client: &tokio_postgres::Client,
    n: usize,
    name: &str,
    statement: &str,
    args: &[&str],
) -> anyhow::Result<Vec<(&'static str, String)>> {
    client
        .batch_execute(&format!("PREPARE q{n} AS {statement}"))
        .await?;
    let mut plans = Vec::new();
    for mode in ["force_custom_plan", "force_generic_plan"] {
        client
            .batch_execute(&format!("SET plan_cache_mode = {mode}"))
            .await?;
        let args = if args.is_empty() {
            String::new()
        } else {
            format!("({})", args.join(", "))
        };
        let rows = client
            .query(&format!("EXPLAIN EXECUTE q{n}{args}"), &[])
            .await?;
        let lines: Vec<String> = rows
            .iter()
            .map(|row| row.try_get::<_, String>(0))
            .collect::<Result<_, _>>()?;
        let plan = lines.join("\n");
        if std::env::var_os("SHOW_PLANS").is_some() {
            eprintln!("--- {name} ({mode})\n{plan}");
        }
        // `projection_checkpoints` holds one row per projection and `notification_feed` one
        // row: scanning them costs the same at any size of the log.
        let constant_size = ["on projection_checkpoints", "on notification_feed"];
        assert!(
            !plan
                .lines()
                .any(|l| l.contains("Seq Scan")
                    && !constant_size.iter().any(|table| l.contains(table))),
            "{name} ({mode}) scans sequentially:\n{plan}"
        );
        assert!(
            plan.contains("Index"),
            "{name} ({mode}) uses no index:\n{plan}"
        );
        plans.push((mode, plan));
    }
    Ok(plans)
}
