//! API keys of the management API: created with a policy and shown once (only the hash
//! is kept), listed, revoked at once (the snapshot the data plane checks is rebuilt).

use super::{Error, Kind, Platform, Result};
use crate::model::policy::Policy;
use crate::store::{now_rfc3339, KeyRecord};
use std::sync::Arc;

/// Key names: `[A-Za-z0-9_.-]{1,64}`; `admin` and `unauthenticated` are reserved (they
/// name the admin token and anonymous callers in the audit log).
pub fn validate_key_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && name != "admin"
        && name != "unauthenticated";
    if !ok {
        return Err(Error::Invalid(format!(
            "Invalid key name '{}': use 1 to 64 of A-Z a-z 0-9 _ . - (admin and unauthenticated are reserved)",
            name.chars().take(80).collect::<String>()
        )));
    }
    Ok(())
}

/// What [`create`] shows once: the bearer value, and with `aws` the access key id and
/// secret access key (SigV4), under the same policy.
pub struct NewKey {
    pub bearer: String,
    pub aws: Option<(String, zeroize::Zeroizing<String>)>,
}

/// Creates the key; returns it with its credentials, which are never shown again.
pub async fn create(p: &Arc<Platform>, name: String, policy: Policy, aws: bool) -> Result<(KeyRecord, NewKey)> {
    validate_key_name(&name)?;
    policy.validate()?;
    let (key, key_hash) = crate::access::generate_key();
    let aws_pair = aws.then(crate::access::generate_aws_credentials);
    let sealed = match &aws_pair {
        Some((id, secret)) => Some(p.master_key.seal_aws_secret(id, secret).map_err(Error::Internal)?),
        None => None,
    };
    let rec = KeyRecord { name, key_hash, policy, created_at: now_rfc3339(), aws: sealed };
    let stored = rec.clone();
    p.commit(move |tx| {
        if tx.find_key(&stored.name)?.is_some() {
            return Err(Error::Conflict(format!("Key already exists: {}", stored.name)));
        }
        tx.insert_key(&stored)
    })
    .await?;
    Ok((rec, NewKey { bearer: key, aws: aws_pair }))
}

pub async fn list(p: &Arc<Platform>) -> Result<Vec<KeyRecord>> {
    p.read(|tx| tx.list_keys()).await
}

pub async fn delete(p: &Arc<Platform>, name: String) -> Result<()> {
    validate_key_name(&name)?;
    p.commit(move |tx| match tx.delete_key(&name)? {
        true => Ok(()),
        false => Err(Error::not_found(Kind::Key, name)),
    })
    .await
}
