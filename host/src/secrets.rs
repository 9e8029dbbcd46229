//! Secrets per environment: encrypted at rest with ChaCha20-Poly1305 (RustCrypto) under a
//! master key kept outside the database, decrypted only into the in-memory snapshot, and
//! substituted into a function's environment (`NAME = "secret:SECRET"`) at instantiation.
//! Values never appear in the store, an API response, a `Debug` output or a log line.

use crate::model::FunctionConfig;
use crate::store::SecretRow;
use anyhow::{anyhow, Context};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use zeroize::Zeroizing;

/// An env value with this prefix names a secret of the invoking environment.
pub const SECRET_REF_PREFIX: &str = "secret:";
/// Largest secret value accepted (bytes).
pub const MAX_SECRET_BYTES: usize = 32 * 1024;

/// The master key. Holds the cipher only; never printed.
pub struct MasterKey {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Reads 32 bytes (or 64 hex characters) from `path`; creates the file (0600, random
    /// key) when it does not exist. Creation is atomic (temp file in `tmp_dir`, on the
    /// same filesystem as `path`, fsync, link into place) and never replaces a key: when
    /// two starts race, the second one uses the key the first one wrote.
    ///
    /// An empty or short key file is an error, never replaced: older versions wrote the
    /// key in place, so a crash of their first start could leave one, and replacing a key
    /// that had been in use would make every stored secret undecryptable.
    pub fn load_or_create(path: &Path, tmp_dir: &Path) -> anyhow::Result<MasterKey> {
        match std::fs::read(path) {
            Ok(bytes) => Self::from_file_bytes(path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Zeroizing::new(rand::random::<[u8; 32]>());
                let text = Zeroizing::new(hex::encode(key.as_slice()));
                if !crate::store::files::write_new_atomic(tmp_dir, path, text.as_bytes())
                    .with_context(|| format!("creating master key file {}", path.display()))?
                {
                    // Another start created it between our read and our link: use theirs.
                    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                    return Self::from_file_bytes(path, &bytes);
                }
                tracing::info!(path = %path.display(), "created the secrets master key (0600); keep it out of data backups");
                Ok(Self::from_key(&key))
            }
            Err(e) => Err(anyhow!("reading master key file {}: {e}", path.display())),
        }
    }

    fn from_file_bytes(path: &Path, bytes: &[u8]) -> anyhow::Result<MasterKey> {
        if bytes.trim_ascii().is_empty() {
            return Err(anyhow!(
                "master key file {} is empty (left by an interrupted first start of an older Waygate?). \
                 If this data directory never stored a secret, delete the file and start again to get a \
                 new key; otherwise restore the key from your backup: a new key cannot decrypt the \
                 stored secrets",
                path.display()
            ));
        }
        Self::from_bytes(bytes).with_context(|| {
            format!(
                "master key file {} is not a key (truncated?); restore it from your backup — it is never \
                 replaced automatically, as stored secrets need the original key",
                path.display()
            )
        })
    }

    /// Accepts the raw 32 bytes or their hex form (surrounding whitespace ignored).
    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<MasterKey> {
        let trimmed = bytes.trim_ascii();
        let key: Zeroizing<[u8; 32]> = if trimmed.len() == 64 {
            let mut k = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(trimmed, k.as_mut_slice()).map_err(|_| anyhow!("64 characters but not hex"))?;
            k
        } else if bytes.len() == 32 {
            let mut k = Zeroizing::new([0u8; 32]);
            k.copy_from_slice(bytes);
            k
        } else {
            return Err(anyhow!("a master key is 32 bytes or 64 hex characters"));
        };
        Ok(Self::from_key(&key))
    }

    fn from_key(key: &[u8; 32]) -> MasterKey {
        MasterKey { cipher: ChaCha20Poly1305::new(Key::from_slice(key)) }
    }

    /// Seals `value`, bound to its environment and name (as associated data) so a row's
    /// ciphertext copied onto another row does not decrypt.
    pub fn seal(&self, environment: &str, name: &str, value: &[u8]) -> anyhow::Result<SecretRow> {
        let nonce: [u8; 12] = rand::random();
        let aad = aad(environment, name);
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: value, aad: &aad })
            .map_err(|_| anyhow!("encryption failed"))?;
        Ok(SecretRow { environment: environment.into(), name: name.into(), nonce: nonce.to_vec(), ciphertext })
    }

    pub fn open(&self, row: &SecretRow) -> anyhow::Result<Zeroizing<String>> {
        if row.nonce.len() != 12 {
            return Err(anyhow!("bad nonce length"));
        }
        let aad = aad(&row.environment, &row.name);
        let plain = Zeroizing::new(
            self.cipher
                .decrypt(Nonce::from_slice(&row.nonce), Payload { msg: &row.ciphertext, aad: &aad })
                .map_err(|_| anyhow!("cannot decrypt (wrong master key, or the row was altered)"))?,
        );
        Ok(Zeroizing::new(String::from_utf8(plain.to_vec()).map_err(|_| anyhow!("value is not UTF-8"))?))
    }
}

impl MasterKey {
    /// Seals an API key's AWS secret access key, bound to its access key id.
    pub fn seal_aws_secret(&self, access_key_id: &str, secret: &str) -> anyhow::Result<crate::store::AwsKey> {
        let nonce: [u8; 12] = rand::random();
        let aad = format!("waygate-aws-key\0{access_key_id}").into_bytes();
        let sealed_secret = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: secret.as_bytes(), aad: &aad })
            .map_err(|_| anyhow!("encryption failed"))?;
        Ok(crate::store::AwsKey { access_key_id: access_key_id.into(), nonce: nonce.to_vec(), sealed_secret })
    }

    pub fn open_aws_secret(&self, key: &crate::store::AwsKey) -> anyhow::Result<Zeroizing<String>> {
        if key.nonce.len() != 12 {
            return Err(anyhow!("bad nonce length"));
        }
        let aad = format!("waygate-aws-key\0{}", key.access_key_id).into_bytes();
        let plain = Zeroizing::new(
            self.cipher
                .decrypt(Nonce::from_slice(&key.nonce), Payload { msg: &key.sealed_secret, aad: &aad })
                .map_err(|_| anyhow!("cannot decrypt (wrong master key, or the row was altered)"))?,
        );
        Ok(Zeroizing::new(String::from_utf8(plain.to_vec()).map_err(|_| anyhow!("value is not UTF-8"))?))
    }
}

fn aad(environment: &str, name: &str) -> Vec<u8> {
    format!("waygate-secret\0{environment}\0{name}").into_bytes()
}

/// Decrypted secrets by environment and name, part of the routing snapshot (rebuilt, so
/// re-decrypted, after every secret change). Not `Debug`, not `Serialize`.
#[derive(Default)]
pub struct SecretsSnapshot {
    by_env: HashMap<String, HashMap<String, Zeroizing<String>>>,
    /// Rows that could not be decrypted: a reference to one is an error naming why.
    unreadable: HashMap<(String, String), String>,
}

impl SecretsSnapshot {
    /// See [`crate::snapshot::Snapshot::describe`] (names only, never values).
    pub fn describe(&self) -> String {
        let names: std::collections::BTreeMap<_, std::collections::BTreeSet<_>> =
            self.by_env.iter().map(|(e, m)| (e, m.keys().collect())).collect();
        let unreadable: std::collections::BTreeSet<_> = self.unreadable.keys().collect();
        format!("secrets {names:?} unreadable {unreadable:?}\n")
    }

    pub fn build(rows: Vec<SecretRow>, key: &MasterKey) -> Self {
        let mut s = SecretsSnapshot::default();
        for row in rows {
            match key.open(&row) {
                Ok(v) => {
                    s.by_env.entry(row.environment).or_default().insert(row.name, v);
                }
                Err(e) => {
                    tracing::error!(environment = %row.environment, secret = %row.name, error = %e, "secret cannot be decrypted");
                    s.unreadable.insert((row.environment, row.name), e.to_string());
                }
            }
        }
        s
    }

    /// `config` with every `secret:NAME` env value replaced by that secret of
    /// `environment`; `None` when it references no secret (the common case: no copy).
    pub fn resolve(&self, config: &FunctionConfig, environment: &str) -> Result<Option<Arc<FunctionConfig>>, String> {
        if !config.env.values().any(|v| v.starts_with(SECRET_REF_PREFIX)) {
            return Ok(None);
        }
        let mut resolved = config.clone();
        for (var, value) in resolved.env.iter_mut() {
            let Some(name) = value.strip_prefix(SECRET_REF_PREFIX) else { continue };
            if let Some(why) = self.unreadable.get(&(environment.to_string(), name.to_string())) {
                return Err(format!(
                    "environment variable {var} references secret '{name}' of environment '{environment}', which cannot be decrypted: {why}"
                ));
            }
            let secret = self.by_env.get(environment).and_then(|m| m.get(name)).ok_or_else(|| {
                format!(
                    "environment variable {var} references secret '{name}', which does not exist in environment '{environment}' (PUT /v1/secrets/{environment}/{name})"
                )
            })?;
            *value = secret.as_str().to_string();
        }
        Ok(Some(Arc::new(resolved)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let k = MasterKey::from_bytes(&[7u8; 32]).unwrap();
        let row = k.seal("dev", "db", b"hunter2").unwrap();
        assert!(!row.ciphertext.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(k.open(&row).unwrap().as_str(), "hunter2");
        let moved = SecretRow { environment: "prod".into(), ..row.clone() };
        assert!(k.open(&moved).is_err());
        let other = MasterKey::from_bytes(&[8u8; 32]).unwrap();
        assert!(other.open(&row).is_err());
        assert!(MasterKey::from_bytes(b"short").is_err());
        let hex_key = MasterKey::from_bytes(format!("{}\n", "ab".repeat(32)).as_bytes()).unwrap();
        assert!(hex_key.open(&hex_key.seal("a", "b", b"c").unwrap()).is_ok());
    }

    #[test]
    fn master_key_file_is_created_0600_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let a = MasterKey::load_or_create(&path, dir.path()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let b = MasterKey::load_or_create(&path, dir.path()).unwrap();
        assert_eq!(b.open(&a.seal("e", "n", b"v").unwrap()).unwrap().as_str(), "v");
        std::fs::write(&path, b"garbage").unwrap();
        assert!(MasterKey::load_or_create(&path, dir.path()).is_err());
        let entries = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(entries, 1, "no temp file left behind");
    }

    #[test]
    fn an_empty_master_key_file_is_an_error_naming_the_way_out_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        std::fs::write(&path, b"").unwrap();
        let err = format!("{:#}", MasterKey::load_or_create(&path, dir.path()).unwrap_err());
        assert!(err.contains("is empty") && err.contains("delete the file") && err.contains("backup"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"", "left as it was");
        std::fs::write(&path, "ab".repeat(20)).unwrap();
        let err = format!("{:#}", MasterKey::load_or_create(&path, dir.path()).unwrap_err());
        assert!(err.contains("truncated"), "{err}");
    }

    #[test]
    fn racing_creations_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let keys: Vec<MasterKey> = std::thread::scope(|s| {
            let hs: Vec<_> =
                (0..8).map(|_| s.spawn(|| MasterKey::load_or_create(&path, dir.path()).unwrap())).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let row = keys[0].seal("e", "n", b"v").unwrap();
        for k in &keys {
            assert_eq!(k.open(&row).unwrap().as_str(), "v");
        }
    }

    #[test]
    fn resolve_substitutes_per_environment_and_reports_missing() {
        let k = MasterKey::from_bytes(&[1u8; 32]).unwrap();
        let rows = vec![k.seal("dev", "pw", b"dev-pw").unwrap(), k.seal("prod", "pw", b"prod-pw").unwrap()];
        let s = SecretsSnapshot::build(rows, &k);
        let mut config = FunctionConfig::default();
        config.env.insert("PW".into(), "secret:pw".into());
        config.env.insert("PLAIN".into(), "x".into());
        assert_eq!(s.resolve(&config, "dev").unwrap().unwrap().env["PW"], "dev-pw");
        assert_eq!(s.resolve(&config, "prod").unwrap().unwrap().env["PW"], "prod-pw");
        let err = s.resolve(&config, "default").unwrap_err();
        assert!(err.contains("'pw'") && err.contains("'default'"), "{err}");
        config.env.remove("PW");
        assert!(s.resolve(&config, "dev").unwrap().is_none());
    }
}
