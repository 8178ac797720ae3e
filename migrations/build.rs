//! Rebuild the crate when a migration file changes: `sqlx::migrate!` embeds the files at compile
//! time, and without this cargo would keep serving an old list.
fn main() {
    println!("cargo:rerun-if-changed=sql");
}
