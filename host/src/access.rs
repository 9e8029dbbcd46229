//! Bearer credentials for both planes: generation ([`token`]: admin token, API keys,
//! invalidation keys), hashing ([`hash_key`]), reading them from a request ([`bearer`]),
//! and the data plane's view of API keys ([`AccessSnapshot`], part of the routing
//! snapshot) so the gateway can authorize a bearer token (e.g. a stage-cache invalidation)
//! without touching the database.

use crate::model::policy::Policy;
use crate::store::KeyRecord;
use http::header::AUTHORIZATION;
use http::HeaderMap;
use std::collections::HashMap;

/// Prefix of every API key, so a leaked one is recognisable (secret scanners).
pub const KEY_PREFIX: &str = "wgk_";

/// A new secret credential: `prefix` (which makes a leaked one recognisable: `wg_` admin
/// token, `wgk_` API key, `wgi_` invalidation key) and 256 random bits in hex.
pub fn token(prefix: &str) -> String {
    format!("{prefix}{}", hex::encode(rand::random::<[u8; 32]>()))
}

/// A new random key (256 bits) and the hash to store. The key itself is shown once.
pub fn generate_key() -> (String, String) {
    let key = token(KEY_PREFIX);
    let hash = hash_key(&key);
    (key, hash)
}

/// Prefix of every access key id Waygate issues (AWS's own start with `AKIA`).
pub const AWS_KEY_PREFIX: &str = "AKWG";

/// A new AWS-style credential pair: an access key id (`AKWG` and 16 of A-Z 2-7, 80 random
/// bits: an identifier, not a secret) and a secret access key (40 base64 characters, 240
/// random bits), the shapes AWS's own have.
pub fn generate_aws_credentials() -> (String, zeroize::Zeroizing<String>) {
    use base64::Engine;
    const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let id: String = rand::random::<[u8; 16]>().iter().map(|b| BASE32[(b & 31) as usize] as char).collect();
    let secret = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 30]>());
    (format!("{AWS_KEY_PREFIX}{id}"), zeroize::Zeroizing::new(secret))
}

/// blake3 of a bearer value, hex: how API keys and invalidation keys are stored and looked
/// up. A fast hash is enough: they are 256-bit random, so there is nothing to brute-force
/// (unlike passwords, which would need a slow KDF).
pub fn hash_key(key: &str) -> String {
    crate::model::hash::blake3_hex(key.as_bytes())
}

/// The credential of `Authorization: Bearer <token>`, trimmed; `None` without one (or
/// with a value that isn't text).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// An API key's AWS credentials as the snapshot holds them: unsealed, so a SigV4 call by
/// a key needs no store read (like secrets, decrypted only into the snapshot; never shown).
pub struct AwsKeyEntry {
    pub name: String,
    pub policy: Policy,
    pub secret: zeroize::Zeroizing<String>,
}

/// Keys and their policies as of the last snapshot rebuild (keys change → rebuild).
#[derive(Default)]
pub struct AccessSnapshot {
    /// By key hash: (key name, policy).
    keys: HashMap<String, (String, Policy)>,
    /// By access key id: keys with AWS credentials.
    aws: HashMap<String, std::sync::Arc<AwsKeyEntry>>,
    /// Hash of the admin token: the root credential, allowed everything.
    admin_hash: Option<String>,
}

impl AccessSnapshot {
    /// See [`crate::snapshot::Snapshot::describe`].
    pub fn describe(&self) -> String {
        let keys: std::collections::BTreeMap<_, _> = self.keys.iter().map(|(h, (n, p))| (n, (h, p))).collect();
        let mut aws: Vec<_> = self.aws.keys().collect();
        aws.sort();
        format!("keys {keys:?} aws {aws:?}\n")
    }

    /// `master_key` unseals keys' AWS secrets (one that fails to open is left out and
    /// logged: its SigV4 calls are then unrecognized).
    pub fn build(keys: Vec<KeyRecord>, admin_token: &str, master_key: Option<&crate::secrets::MasterKey>) -> Self {
        let mut aws = HashMap::new();
        for k in &keys {
            let (Some(sealed), Some(mk)) = (&k.aws, master_key) else { continue };
            match mk.open_aws_secret(sealed) {
                Ok(secret) => {
                    let entry = AwsKeyEntry { name: k.name.clone(), policy: k.policy.clone(), secret };
                    aws.insert(sealed.access_key_id.clone(), std::sync::Arc::new(entry));
                }
                Err(e) => tracing::error!(key = %k.name, error = %e, "cannot unseal the key's AWS secret"),
            }
        }
        AccessSnapshot {
            keys: keys.into_iter().map(|k| (k.key_hash, (k.name, k.policy))).collect(),
            aws,
            admin_hash: Some(hash_key(admin_token)),
        }
    }

    /// The key whose AWS access key id this is, as of the last rebuild.
    pub fn aws_key(&self, access_key_id: &str) -> Option<std::sync::Arc<AwsKeyEntry>> {
        self.aws.get(access_key_id).cloned()
    }

    /// Whether `bearer_token` (the raw `Authorization: Bearer` value) may do `action` on
    /// `resource`: the admin token may do everything, a key what its policy allows.
    pub fn allows(&self, bearer_token: &str, action: &str, resource: &str) -> bool {
        let hash = hash_key(bearer_token.trim());
        if self.admin_hash.as_deref() == Some(hash.as_str()) {
            return true;
        }
        self.keys.get(&hash).is_some_and(|(_, policy)| policy.allows(action, resource))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_by_key_and_admin() {
        let (key, hash) = generate_key();
        let policy: Policy = serde_json::from_value(serde_json::json!([
            {"effect": "allow", "actions": ["stage:InvalidateCache"], "resources": ["api/abc/stage/dev"]}
        ]))
        .unwrap();
        let a = AccessSnapshot::build(
            vec![KeyRecord { name: "cache".into(), key_hash: hash, policy, created_at: String::new(), aws: None }],
            "root",
            None,
        );
        assert!(a.allows(&key, "stage:InvalidateCache", "api/abc/stage/dev"));
        assert!(!a.allows(&key, "stage:InvalidateCache", "api/abc/stage/prod"));
        assert!(!a.allows("wgk_nope", "stage:InvalidateCache", "api/abc/stage/dev"));
        assert!(a.allows("root", "anything:At", "all"));
    }
}
