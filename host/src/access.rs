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

/// Keys and their policies as of the last snapshot rebuild (keys change → rebuild).
#[derive(Default)]
pub struct AccessSnapshot {
    /// By key hash: (key name, policy).
    keys: HashMap<String, (String, Policy)>,
    /// Hash of the admin token: the root credential, allowed everything.
    admin_hash: Option<String>,
}

impl AccessSnapshot {
    pub fn build(keys: Vec<KeyRecord>, admin_token: &str) -> Self {
        AccessSnapshot {
            keys: keys.into_iter().map(|k| (k.key_hash, (k.name, k.policy))).collect(),
            admin_hash: Some(hash_key(admin_token)),
        }
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
            vec![KeyRecord { name: "cache".into(), key_hash: hash, policy, created_at: String::new() }],
            "root",
        );
        assert!(a.allows(&key, "stage:InvalidateCache", "api/abc/stage/dev"));
        assert!(!a.allows(&key, "stage:InvalidateCache", "api/abc/stage/prod"));
        assert!(!a.allows("wgk_nope", "stage:InvalidateCache", "api/abc/stage/dev"));
        assert!(a.allows("root", "anything:At", "all"));
    }
}
