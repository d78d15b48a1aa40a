//! Reading rows on PostgreSQL: times are stored as Unix milliseconds.

use baton_core::clock::from_millis;
use sqlx::postgres::PgRow as Row;
use sqlx::Row as _;
use time::OffsetDateTime;

/// An optional time column.
pub(super) fn opt_time(row: &Row, col: &str) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(from_millis))
}

/// A time column.
pub(super) fn time_col(row: &Row, col: &str) -> Result<OffsetDateTime, sqlx::Error> {
    Ok(from_millis(row.try_get::<i64, _>(col)?))
}
