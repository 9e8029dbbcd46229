//! Secrets per environment: write-only values, sealed with the master key before they
//! reach the store and never returned; names listed; deleted.

use super::{Error, Kind, Platform, Result};
use crate::secrets::MAX_SECRET_BYTES;
use crate::store::SecretMeta;
use std::sync::Arc;

/// Environment and secret names: `[A-Za-z0-9_.-]{1,64}`, not made of dots only (they
/// appear in resources `secret/ENV/NAME`, in `secret:NAME` references and in URL paths,
/// where `.` and `..` are path navigation, not names).
pub fn validate_name(what: &str, s: &str) -> Result<()> {
    if s.is_empty()
        || s.len() > 64
        || !s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        || s.chars().all(|c| c == '.')
    {
        return Err(Error::Invalid(format!(
            "Invalid {what} '{}': use 1 to 64 of A-Z a-z 0-9 _ . -, not only dots",
            s.chars().take(80).collect::<String>()
        )));
    }
    Ok(())
}

/// Creates or replaces; returns whether it was created.
pub async fn put(p: &Arc<Platform>, environment: &str, name: &str, value: &[u8]) -> Result<bool> {
    validate_name("environment", environment)?;
    validate_name("secret name", name)?;
    if value.len() > MAX_SECRET_BYTES {
        return Err(Error::Invalid(format!("secret value is too long: at most {MAX_SECRET_BYTES} bytes")));
    }
    let row = p.master_key.seal(environment, name, value)?;
    p.commit(move |tx| tx.put_secret(&row)).await
}

pub async fn list(p: &Arc<Platform>, environment: String) -> Result<Vec<SecretMeta>> {
    validate_name("environment", &environment)?;
    p.read(move |tx| tx.list_secrets(&environment)).await
}

pub async fn delete(p: &Arc<Platform>, environment: String, name: String) -> Result<()> {
    validate_name("environment", &environment)?;
    validate_name("secret name", &name)?;
    p.commit(move |tx| match tx.delete_secret(&environment, &name)? {
        true => Ok(()),
        false => Err(Error::not_found(Kind::Secret, format!("{environment}/{name}"))),
    })
    .await
}
