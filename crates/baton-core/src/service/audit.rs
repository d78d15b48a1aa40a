//! The audit log.

use super::Baton;
use crate::audit::{AuditEvent, EventQuery};
use crate::error::AuthError;
use time::Duration;

impl Baton {
    /// Records an audit event; a failure to record is logged, never passed on (the event's
    /// request has been answered by then, or is about to be).
    pub async fn record(&self, event: AuditEvent) {
        if let Err(e) = self.store.record_event(&event).await {
            tracing::warn!(error = %e, kind = event.kind.as_str(), "an audit event was not recorded");
        }
    }

    /// Audit events, newest first, as `query` says.
    pub async fn events(&self, query: &EventQuery) -> Result<Vec<AuditEvent>, AuthError> {
        Ok(self.store.events(query).await?)
    }

    /// Forgets audit events older than `retention`.
    pub async fn purge_events(&self, retention: Duration) -> Result<u64, AuthError> {
        Ok(self
            .store
            .purge_events(self.deletion_now() - retention)
            .await?)
    }
}
