//! API keys of the management API: only the hash of the bearer value is stored.

use super::StoreResult;

/// An API key: only the hash of the bearer value is stored.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub name: String,
    pub key_hash: String,
    pub policy: crate::model::policy::Policy,
    pub created_at: String,
}

pub trait KeyStore {
    fn insert_key(&self, key: &KeyRecord) -> StoreResult<()>;
    fn find_key(&self, name: &str) -> StoreResult<Option<KeyRecord>>;
    fn list_keys(&self) -> StoreResult<Vec<KeyRecord>>;
    fn key_by_hash(&self, hash: &str) -> StoreResult<Option<KeyRecord>>;
    fn delete_key(&self, name: &str) -> StoreResult<bool>;
}
