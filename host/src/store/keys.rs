//! API keys of the management API: only the hash of the bearer value is stored.

use super::StoreResult;

/// An API key: only the hash of the bearer value is stored.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub name: String,
    pub key_hash: String,
    pub policy: crate::model::policy::Policy,
    pub created_at: String,
    /// The key's AWS credentials (SigV4), when it has them.
    pub aws: Option<AwsKey>,
}

/// An access key id and its secret access key, sealed with the master key
/// (`crate::secrets::MasterKey::seal_aws_secret`): SigV4 verification needs the secret
/// itself, so it can't be stored as a hash like the bearer value.
#[derive(Clone)]
pub struct AwsKey {
    pub access_key_id: String,
    pub nonce: Vec<u8>,
    pub sealed_secret: Vec<u8>,
}

impl std::fmt::Debug for AwsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AwsKey({}, ..)", self.access_key_id)
    }
}

pub trait KeyStore {
    fn insert_key(&self, key: &KeyRecord) -> StoreResult<()>;
    fn find_key(&self, name: &str) -> StoreResult<Option<KeyRecord>>;
    fn list_keys(&self) -> StoreResult<Vec<KeyRecord>>;
    fn key_by_hash(&self, hash: &str) -> StoreResult<Option<KeyRecord>>;
    fn delete_key(&self, name: &str) -> StoreResult<bool>;
}
