//! Environment values: small, non-secret key/value settings per environment (the hosts a
//! version's outbound allow-list names, `${environment.NAME}`), stored in the clear.

use super::StoreResult;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueRecord {
    pub environment: String,
    pub name: String,
    pub value: String,
    pub created_at: String,
    pub updated_at: String,
}

pub trait ValueStore {
    /// Creates or replaces; returns whether it was created.
    fn put_value(&self, environment: &str, name: &str, value: &str) -> StoreResult<bool>;
    fn list_values(&self, environment: &str) -> StoreResult<Vec<ValueRecord>>;
    fn delete_value(&self, environment: &str, name: &str) -> StoreResult<bool>;
    /// Every environment's, for the snapshot.
    fn load_values(&self) -> StoreResult<Vec<ValueRecord>>;
}
