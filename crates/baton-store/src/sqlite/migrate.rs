//! SQLite migrations from `migrations/sqlite`, applied in order, each in its own transaction.
//! They are recorded in the `_sqlx_migrations` table, row for row as sqlx records them (version,
//! description, SHA-384 checksum), so a database created by an earlier baton, whose SQLite
//! migrations sqlx applied, goes on from where it stood.

use crate::error::map_sqlite;
use crate::queries::sqlite as qs;
use baton_core::store::StoreError;
use rusqlite::{params, Connection, OptionalExtension as _};

/// One migration file.
pub(crate) struct Migration {
    /// The number before the first `_` of the file name.
    pub(crate) version: i64,
    /// The rest of the file name, `_` read as spaces (sqlx's rule).
    pub(crate) description: &'static str,
    /// The SQL.
    pub(crate) sql: &'static str,
}

macro_rules! migrations {
    ($($version:literal $name:literal $description:literal),* $(,)?) => {
        &[$(Migration {
            version: $version,
            description: $description,
            sql: include_str!(concat!("../../migrations/sqlite/", $version, "_", $name, ".sql")),
        }),*]
    };
}

/// Every SQLite migration, oldest first. `tests` checks that this list, the files in
/// `migrations/sqlite` and those in `migrations/postgres` name the same migrations.
pub(crate) const MIGRATIONS: &[Migration] = migrations![
    20261127000001 "initial" "initial",
    20261127000002 "oauth_clients" "oauth clients",
    20261202000001 "rotation_successor" "rotation successor",
    20261202000002 "sealed_index" "sealed index",
    20261202000003 "login_limits" "login limits",
    20261202000004 "audit_events" "audit events",
    20261202000005 "rotation_writes_less" "rotation writes less",
    20261203000001 "disabled_users" "disabled users",
    20261203000002 "email" "email",
    20261204000001 "second_factors" "second factors",
    20261204000002 "passkeys" "passkeys",
    20261205000001 "oauth_client_settings" "oauth client settings",
    20261205000002 "authorization_codes" "authorization codes",
    20261205000003 "consents" "consents",
    20261205000004 "pushed_requests" "pushed requests",
    20261205000005 "client_assertions" "client assertions",
    20261206000001 "backchannel_logout" "backchannel logout",
    20261206000002 "resource_indicators" "resource indicators",
    20261207000001 "dpop" "dpop",
    20261208000001 "dpop_binding" "dpop binding",
];

fn checksum(sql: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, sql.as_bytes())
        .as_ref()
        .to_vec()
}

/// Checks, without writing, that every migration of this baton has been applied: commands that
/// only read must neither create nor upgrade a schema.
pub(crate) fn check(conn: &Connection) -> Result<(), StoreError> {
    let table: Option<String> = conn
        .query_row(qs::MIGRATIONS_TABLE, [], |r| r.get(0))
        .optional()
        .map_err(map_sqlite)?;
    if table.is_none() {
        return Err(crate::error::not_migrated("it has no baton schema"));
    }
    let applied: Vec<i64> = {
        let mut stmt = conn.prepare(qs::APPLIED_MIGRATIONS).map_err(map_sqlite)?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(map_sqlite)?;
        rows.collect::<Result<_, _>>().map_err(map_sqlite)?
    };
    match MIGRATIONS.iter().find(|m| !applied.contains(&m.version)) {
        Some(m) => Err(crate::error::not_migrated(&format!(
            "migration {} is missing",
            m.version
        ))),
        None => Ok(()),
    }
}

/// Applies the migrations this database lacks, each in a transaction of its own, after
/// checking that those already applied are known, whole and unchanged.
pub(crate) fn run(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(qs::CREATE_MIGRATIONS_TABLE)
        .map_err(map_sqlite)?;
    let applied: Vec<(i64, bool, Vec<u8>)> = {
        let mut stmt = conn.prepare(qs::MIGRATION_RECORDS).map_err(map_sqlite)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(map_sqlite)?;
        rows.collect::<Result<_, _>>().map_err(map_sqlite)?
    };
    for (version, success, sum) in &applied {
        let Some(known) = MIGRATIONS.iter().find(|m| m.version == *version) else {
            return Err(StoreError::Other(format!(
                "migration {version} in the database is unknown to this baton (a newer one \
                 migrated it)"
            )));
        };
        if !success {
            return Err(StoreError::Other(format!(
                "migration {version} failed part-way earlier; restore a backup"
            )));
        }
        if *sum != checksum(known.sql) {
            return Err(StoreError::Other(format!(
                "migration {version} was changed after it was applied"
            )));
        }
    }
    for m in MIGRATIONS {
        if applied.iter().any(|(v, _, _)| *v == m.version) {
            continue;
        }
        let started = std::time::Instant::now();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(map_sqlite)?;
        // Another process may have applied it while this one waited for the write lock.
        let done: Option<i64> = tx
            .query_row(qs::MIGRATION_RECORDED, [m.version], |r| r.get(0))
            .optional()
            .map_err(map_sqlite)?;
        if done.is_none() {
            tx.execute_batch(m.sql)
                .map_err(|e| StoreError::Other(format!("migration {} failed: {e}", m.version)))?;
            tx.execute(
                qs::RECORD_MIGRATION,
                params![
                    m.version,
                    m.description,
                    checksum(m.sql),
                    i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX)
                ],
            )
            .map_err(map_sqlite)?;
        }
        tx.commit().map_err(map_sqlite)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    fn names(dir: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("migrations folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn both_backends_and_the_embedded_list_name_the_same_migrations() {
        let root = env!("CARGO_MANIFEST_DIR");
        let sqlite = names(&format!("{root}/migrations/sqlite"));
        let postgres = names(&format!("{root}/migrations/postgres"));
        assert_eq!(sqlite, postgres);
        let embedded: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{}_{}.sql", m.version, m.description.replace(' ', "_")))
            .collect();
        assert_eq!(embedded, sqlite);
    }
}
