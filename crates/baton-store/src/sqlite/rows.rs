//! Binding and reading on SQLite: statements prepared once per connection (`prepare_cached`),
//! times read from Unix milliseconds.

use crate::error::map_sqlite;
use baton_core::clock::from_millis;
use baton_core::store::StoreError;
use rusqlite::{Connection, OptionalExtension as _, Row};
use time::OffsetDateTime;

/// An optional time column.
pub(super) fn opt_time(row: &Row<'_>, col: &str) -> rusqlite::Result<Option<OffsetDateTime>> {
    Ok(row.get::<_, Option<i64>>(col)?.map(from_millis))
}

/// A time column.
pub(super) fn time_col(row: &Row<'_>, col: &str) -> rusqlite::Result<OffsetDateTime> {
    Ok(from_millis(row.get::<_, i64>(col)?))
}

/// The first row `sql` answers, read by `f`; `None` when there is none.
pub(super) fn query_one<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_row(params, f).optional())
        .map_err(map_sqlite)
}

/// Every row `sql` answers, read by `f`.
pub(super) fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_sqlite)?;
    let rows = stmt.query_map(params, f).map_err(map_sqlite)?;
    rows.collect::<Result<_, _>>().map_err(map_sqlite)
}

/// Runs a statement that answers no rows; how many rows it changed.
pub(super) fn execute(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<usize, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute(params))
        .map_err(map_sqlite)
}
