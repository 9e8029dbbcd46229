//! The audit log: one entry per mutating management call, appended after the call is
//! answered (outside its transaction: the log is not routing state).

use super::{Error, Platform, Result};
use crate::store::{AuditEntry, AuditQuery};
use std::sync::Arc;

pub async fn record(p: &Arc<Platform>, entry: AuditEntry) -> Result<()> {
    let this = p.clone();
    tokio::task::spawn_blocking(move || this.audit_log().append_audit(&entry))
        .await
        .map_err(|e| Error::internal(format!("audit task failed: {e}")))?
}

/// Newest first; `query.before` pages backwards by id.
pub async fn list(p: &Arc<Platform>, query: AuditQuery) -> Result<Vec<AuditEntry>> {
    let this = p.clone();
    tokio::task::spawn_blocking(move || this.audit_log().list_audit(&query))
        .await
        .map_err(|e| Error::internal(format!("audit task failed: {e}")))?
}
