//! [`KeyStore`] and [`SecretStore`] on SQLite, and the audit log's rows: API keys (hash
//! only), secrets (ciphertext only; encryption happens above the store, in
//! `crate::secrets`).

use super::SqliteTx;
use crate::store::{
    now_rfc3339, AuditEntry, AuditQuery, AwsKey, KeyRecord, KeyStore, SecretMeta, SecretRow, SecretStore, StoreResult,
    ValueRecord, ValueStore,
};
use rusqlite::{params, OptionalExtension};

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRecord> {
    let policy: String = r.get(2)?;
    Ok(KeyRecord {
        name: r.get(0)?,
        key_hash: r.get(1)?,
        policy: serde_json::from_str(&policy)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e)))?,
        created_at: r.get(3)?,
        aws: match (r.get::<_, Option<String>>(4)?, r.get::<_, Option<Vec<u8>>>(5)?, r.get::<_, Option<Vec<u8>>>(6)?) {
            (Some(access_key_id), Some(nonce), Some(sealed_secret)) => {
                Some(AwsKey { access_key_id, nonce, sealed_secret })
            }
            _ => None,
        },
    })
}

const KEY_COLS: &str = "name, key_hash, policy, created_at, access_key_id, aws_secret_nonce, aws_secret";

impl KeyStore for SqliteTx<'_> {
    fn insert_key(&self, k: &KeyRecord) -> StoreResult<()> {
        let policy = super::rows::json(&k.policy)?;
        self.execute(
            &format!("INSERT INTO api_keys ({KEY_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
            params![
                k.name,
                k.key_hash,
                policy,
                k.created_at,
                k.aws.as_ref().map(|a| &a.access_key_id),
                k.aws.as_ref().map(|a| &a.nonce),
                k.aws.as_ref().map(|a| &a.sealed_secret)
            ],
        )?;
        Ok(())
    }

    fn find_key(&self, name: &str) -> StoreResult<Option<KeyRecord>> {
        Ok(self.query_row(&format!("SELECT {KEY_COLS} FROM api_keys WHERE name = ?1"), [name], key_row).optional()?)
    }

    fn list_keys(&self) -> StoreResult<Vec<KeyRecord>> {
        let mut stmt = self.prepare(&format!("SELECT {KEY_COLS} FROM api_keys ORDER BY name"))?;
        let rows = stmt.query_map([], key_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn key_by_hash(&self, hash: &str) -> StoreResult<Option<KeyRecord>> {
        Ok(self
            .query_row(&format!("SELECT {KEY_COLS} FROM api_keys WHERE key_hash = ?1"), [hash], key_row)
            .optional()?)
    }

    fn delete_key(&self, name: &str) -> StoreResult<bool> {
        Ok(self.execute("DELETE FROM api_keys WHERE name = ?1", [name])? > 0)
    }
}

pub(super) fn append_audit(tx: &SqliteTx<'_>, e: &AuditEntry) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO audit (at, principal, method, path, action, resource, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![e.at, e.principal, e.method, e.path, e.action, e.resource, e.status],
    )?;
    Ok(())
}

/// Newest first; `before` pages backwards by id.
pub(super) fn list_audit(tx: &SqliteTx<'_>, q: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
    let mut stmt = tx.prepare(
        "SELECT id, at, principal, method, path, action, resource, status FROM audit
         WHERE (?1 IS NULL OR principal = ?1) AND (?2 IS NULL OR action = ?2)
           AND (?3 IS NULL OR resource LIKE ?3 ESCAPE '\\') AND (?4 IS NULL OR id < ?4)
           AND (?5 IS NULL OR at >= ?5)
         ORDER BY id DESC LIMIT ?6",
    )?;
    let prefix = q.resource_prefix.as_ref().map(|p| {
        let escaped = p.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        format!("{escaped}%")
    });
    let rows = stmt
        .query_map(params![q.principal, q.action, prefix, q.before, q.since, q.limit as i64], |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                at: r.get(1)?,
                principal: r.get(2)?,
                method: r.get(3)?,
                path: r.get(4)?,
                action: r.get(5)?,
                resource: r.get(6)?,
                status: r.get(7)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

impl SecretStore for SqliteTx<'_> {
    fn put_secret(&self, s: &SecretRow) -> StoreResult<bool> {
        let tx = self;
        let now = now_rfc3339();
        let updated = tx.execute(
            "UPDATE secrets SET nonce = ?3, ciphertext = ?4, updated_at = ?5 WHERE environment = ?1 AND name = ?2",
            params![s.environment, s.name, s.nonce, s.ciphertext, now],
        )?;
        if updated == 0 {
            tx.execute(
            "INSERT INTO secrets (environment, name, nonce, ciphertext, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            params![s.environment, s.name, s.nonce, s.ciphertext, now],
        )?;
        }
        Ok(updated == 0)
    }

    fn list_secrets(&self, environment: &str) -> StoreResult<Vec<SecretMeta>> {
        let tx = self;
        let mut stmt = tx.prepare(
            "SELECT environment, name, created_at, updated_at FROM secrets WHERE environment = ?1 ORDER BY name",
        )?;
        let rows = stmt
            .query_map([environment], |r| {
                Ok(SecretMeta { environment: r.get(0)?, name: r.get(1)?, created_at: r.get(2)?, updated_at: r.get(3)? })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn delete_secret(&self, environment: &str, name: &str) -> StoreResult<bool> {
        Ok(self.execute("DELETE FROM secrets WHERE environment = ?1 AND name = ?2", [environment, name])? > 0)
    }

    fn load_secrets(&self) -> StoreResult<Vec<SecretRow>> {
        let mut stmt =
            self.prepare("SELECT environment, name, nonce, ciphertext FROM secrets ORDER BY environment, name")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(SecretRow { environment: r.get(0)?, name: r.get(1)?, nonce: r.get(2)?, ciphertext: r.get(3)? })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

impl ValueStore for SqliteTx<'_> {
    fn put_value(&self, environment: &str, name: &str, value: &str) -> StoreResult<bool> {
        let now = now_rfc3339();
        let updated = self.execute(
            "UPDATE environment_values SET value = ?3, updated_at = ?4 WHERE environment = ?1 AND name = ?2",
            params![environment, name, value, now],
        )?;
        if updated == 0 {
            self.execute(
                "INSERT INTO environment_values (environment, name, value, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                params![environment, name, value, now],
            )?;
        }
        Ok(updated == 0)
    }

    fn list_values(&self, environment: &str) -> StoreResult<Vec<ValueRecord>> {
        Ok(self.all_values(Some(environment))?)
    }

    fn delete_value(&self, environment: &str, name: &str) -> StoreResult<bool> {
        Ok(self.execute("DELETE FROM environment_values WHERE environment = ?1 AND name = ?2", [environment, name])?
            > 0)
    }

    fn load_values(&self) -> StoreResult<Vec<ValueRecord>> {
        Ok(self.all_values(None)?)
    }
}

impl SqliteTx<'_> {
    /// One environment's values, or every environment's.
    fn all_values(&self, environment: Option<&str>) -> rusqlite::Result<Vec<ValueRecord>> {
        let mut stmt = self.prepare(
            "SELECT environment, name, value, created_at, updated_at FROM environment_values \
             WHERE ?1 IS NULL OR environment = ?1 ORDER BY environment, name",
        )?;
        let rows = stmt.query_map([environment], |r| {
            Ok(ValueRecord {
                environment: r.get(0)?,
                name: r.get(1)?,
                value: r.get(2)?,
                created_at: r.get(3)?,
                updated_at: r.get(4)?,
            })
        })?;
        rows.collect()
    }
}
