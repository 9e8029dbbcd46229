//! Secrets per environment, stored encrypted (the key never reaches the store).

use super::StoreResult;

/// A secret as stored: AEAD ciphertext and its nonce, never the value.
#[derive(Clone)]
pub struct SecretRow {
    pub environment: String,
    pub name: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct SecretMeta {
    pub environment: String,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
}

pub trait SecretStore {
    /// Creates or replaces; returns whether it was created.
    fn put_secret(&self, secret: &SecretRow) -> StoreResult<bool>;
    fn list_secrets(&self, environment: &str) -> StoreResult<Vec<SecretMeta>>;
    fn delete_secret(&self, environment: &str, name: &str) -> StoreResult<bool>;
    fn load_secrets(&self) -> StoreResult<Vec<SecretRow>>;
}
