//! The audit log of mutating management calls. Appended after the call is answered,
//! outside the call's own transaction: it is not routing state and does not advance the
//! change sequence.

use super::StoreResult;

/// One mutating management call.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    /// The key's name, or `admin`.
    pub principal: String,
    pub method: String,
    pub path: String,
    pub action: String,
    pub resource: String,
    pub status: u16,
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub principal: Option<String>,
    pub action: Option<String>,
    pub resource_prefix: Option<String>,
    pub since: Option<String>,
    pub before: Option<i64>,
    pub limit: u32,
}

pub trait AuditLog: Send + Sync {
    fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()>;
    fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>>;
}
