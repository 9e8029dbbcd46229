//! Functions' resource policies (who may invoke which qualifier): records and the
//! [`PolicyStore`] trait. The statement rules (unique ids, size limit) are in
//! `ops::permissions`.

use super::StoreResult;
use crate::model::FunctionName;

/// One statement of a function's resource policy.
#[derive(Debug, Clone)]
pub struct PermissionRecord {
    pub function: FunctionName,
    /// `None`: the unqualified function (which also covers `$LATEST`).
    pub qualifier: Option<String>,
    pub statement_id: String,
    pub principal: String,
    pub source: String,
    pub created_at: String,
}

pub trait PolicyStore {
    fn list_permissions(&self, function: &FunctionName, qualifier: Option<&str>) -> StoreResult<Vec<PermissionRecord>>;
    fn insert_permission(&self, p: &PermissionRecord) -> StoreResult<()>;
    fn delete_permission(&self, function: &FunctionName, qualifier: Option<&str>, sid: &str) -> StoreResult<bool>;
    /// Deletes the whole policy of one qualifier (it goes with its version or alias).
    fn drop_policy(&self, function: &FunctionName, qualifier: &str) -> StoreResult<()>;
}
