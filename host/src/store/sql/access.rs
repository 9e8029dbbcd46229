//! [`KeyStore`] and [`SecretStore`] in SQL (both engines), and the audit log's rows: API keys (hash
//! only), secrets (ciphertext only; encryption happens above the store, in
//! `crate::secrets`).

use super::{args, parse_json, Row, SqlTx};
use crate::store::{
    now_rfc3339, AuditEntry, AuditQuery, AwsKey, KeyRecord, KeyStore, SecretMeta, SecretRow, SecretStore, StoreResult,
    ValueRecord, ValueStore,
};

fn key_row(r: &Row) -> StoreResult<KeyRecord> {
    let policy: String = r.get(2)?;
    Ok(KeyRecord {
        name: r.get(0)?,
        key_hash: r.get(1)?,
        policy: parse_json(&policy)?,
        created_at: r.get(3)?,
        aws: match (r.get::<Option<String>>(4)?, r.get::<Option<Vec<u8>>>(5)?, r.get::<Option<Vec<u8>>>(6)?) {
            (Some(access_key_id), Some(nonce), Some(sealed_secret)) => {
                Some(AwsKey { access_key_id, nonce, sealed_secret })
            }
            _ => None,
        },
    })
}

const KEY_COLS: &str = "name, key_hash, policy, created_at, access_key_id, aws_secret_nonce, aws_secret";

impl KeyStore for SqlTx<'_> {
    fn insert_key(&self, k: &KeyRecord) -> StoreResult<()> {
        let policy = super::json(&k.policy)?;
        self.execute(
            &format!("INSERT INTO api_keys ({KEY_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
            args![
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
        self.query_opt(&format!("SELECT {KEY_COLS} FROM api_keys WHERE name = ?1"), args![name], key_row)
    }

    fn list_keys(&self) -> StoreResult<Vec<KeyRecord>> {
        let rows = self.query_map(&format!("SELECT {KEY_COLS} FROM api_keys ORDER BY name"), &[], key_row)?;
        Ok(rows)
    }

    fn key_by_hash(&self, hash: &str) -> StoreResult<Option<KeyRecord>> {
        self.query_opt(&format!("SELECT {KEY_COLS} FROM api_keys WHERE key_hash = ?1"), args![hash], key_row)
    }

    fn delete_key(&self, name: &str) -> StoreResult<bool> {
        Ok(self.execute("DELETE FROM api_keys WHERE name = ?1", args![name])? > 0)
    }
}

pub fn append_audit(tx: &SqlTx<'_>, e: &AuditEntry) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO audit (at, principal, method, path, action, resource, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        args![e.at, e.principal, e.method, e.path, e.action, e.resource, e.status],
    )?;
    Ok(())
}

/// Newest first; `before` pages backwards by id.
pub fn list_audit(tx: &SqlTx<'_>, q: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
    let sql = "SELECT id, at, principal, method, path, action, resource, status FROM audit
         WHERE (CAST(?1 AS TEXT) IS NULL OR principal = ?1) AND (CAST(?2 AS TEXT) IS NULL OR action = ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR resource LIKE ?3 ESCAPE '\\') AND (CAST(?4 AS BIGINT) IS NULL OR id < ?4)
           AND (CAST(?5 AS TEXT) IS NULL OR at >= ?5)
         ORDER BY id DESC LIMIT ?6";
    let prefix = q.resource_prefix.as_ref().map(|p| {
        let escaped = p.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        format!("{escaped}%")
    });
    let rows = tx.query_map(sql, args![q.principal, q.action, prefix, q.before, q.since, q.limit as i64], |r| {
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
    })?;
    Ok(rows)
}

impl SecretStore for SqlTx<'_> {
    fn put_secret(&self, s: &SecretRow) -> StoreResult<bool> {
        let tx = self;
        let now = now_rfc3339();
        let updated = tx.execute(
            "UPDATE secrets SET nonce = ?3, ciphertext = ?4, updated_at = ?5 WHERE environment = ?1 AND name = ?2",
            args![s.environment, s.name, s.nonce, s.ciphertext, now],
        )?;
        if updated == 0 {
            tx.execute(
            "INSERT INTO secrets (environment, name, nonce, ciphertext, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            args![s.environment, s.name, s.nonce, s.ciphertext, now],
        )?;
        }
        Ok(updated == 0)
    }

    fn list_secrets(&self, environment: &str) -> StoreResult<Vec<SecretMeta>> {
        let rows = self.query_map(
            "SELECT environment, name, created_at, updated_at FROM secrets WHERE environment = ?1 ORDER BY name",
            args![environment],
            |r| {
                Ok(SecretMeta { environment: r.get(0)?, name: r.get(1)?, created_at: r.get(2)?, updated_at: r.get(3)? })
            },
        )?;
        Ok(rows)
    }

    fn delete_secret(&self, environment: &str, name: &str) -> StoreResult<bool> {
        Ok(self.execute("DELETE FROM secrets WHERE environment = ?1 AND name = ?2", args![environment, name])? > 0)
    }

    fn load_secrets(&self) -> StoreResult<Vec<SecretRow>> {
        let rows = self.query_map(
            "SELECT environment, name, nonce, ciphertext FROM secrets ORDER BY environment, name",
            &[],
            |r| Ok(SecretRow { environment: r.get(0)?, name: r.get(1)?, nonce: r.get(2)?, ciphertext: r.get(3)? }),
        )?;
        Ok(rows)
    }
}

impl ValueStore for SqlTx<'_> {
    fn put_value(&self, environment: &str, name: &str, value: &str) -> StoreResult<bool> {
        let now = now_rfc3339();
        let updated = self.execute(
            "UPDATE environment_values SET value = ?3, updated_at = ?4 WHERE environment = ?1 AND name = ?2",
            args![environment, name, value, now],
        )?;
        if updated == 0 {
            self.execute(
                "INSERT INTO environment_values (environment, name, value, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                args![environment, name, value, now],
            )?;
        }
        Ok(updated == 0)
    }

    fn list_values(&self, environment: &str) -> StoreResult<Vec<ValueRecord>> {
        self.all_values(Some(environment))
    }

    fn delete_value(&self, environment: &str, name: &str) -> StoreResult<bool> {
        Ok(self
            .execute("DELETE FROM environment_values WHERE environment = ?1 AND name = ?2", args![environment, name])?
            > 0)
    }

    fn load_values(&self) -> StoreResult<Vec<ValueRecord>> {
        self.all_values(None)
    }
}

impl SqlTx<'_> {
    /// One environment's values, or every environment's.
    fn all_values(&self, environment: Option<&str>) -> StoreResult<Vec<ValueRecord>> {
        let rows = self.query_map(
            "SELECT environment, name, value, created_at, updated_at FROM environment_values \
             WHERE CAST(?1 AS TEXT) IS NULL OR environment = ?1 ORDER BY environment, name",
            args![environment],
            |r| {
                Ok(ValueRecord {
                    environment: r.get(0)?,
                    name: r.get(1)?,
                    value: r.get(2)?,
                    created_at: r.get(3)?,
                    updated_at: r.get(4)?,
                })
            },
        )?;
        Ok(rows)
    }
}
