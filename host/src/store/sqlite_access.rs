//! The access-control half of the SQLite store: API keys (hash only), the audit log, and
//! secrets (ciphertext only; encryption happens above the store, in `crate::secrets`).
//! Called from `sqlite.rs`'s `Store` impl, each inside that call's transaction.

use super::*;
use rusqlite::{params, OptionalExtension, Transaction};

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS api_keys (
    name        TEXT PRIMARY KEY,
    key_hash    TEXT NOT NULL UNIQUE,
    policy      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
-- Append-only.
CREATE TABLE IF NOT EXISTS audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    principal   TEXT NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    action      TEXT NOT NULL,
    resource    TEXT NOT NULL,
    status      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_principal ON audit(principal, id);
CREATE TABLE IF NOT EXISTS secrets (
    environment TEXT NOT NULL,
    name        TEXT NOT NULL,
    nonce       BLOB NOT NULL,
    ciphertext  BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (environment, name)
);
"#;

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRecord> {
    let policy: String = r.get(2)?;
    Ok(KeyRecord {
        name: r.get(0)?,
        key_hash: r.get(1)?,
        policy: serde_json::from_str(&policy)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e)))?,
        created_at: r.get(3)?,
    })
}

pub fn create_key(tx: &Transaction<'_>, k: &KeyRecord) -> StoreResult<()> {
    let exists = tx.query_row("SELECT 1 FROM api_keys WHERE name = ?1", [&k.name], |_| Ok(())).optional()?;
    if exists.is_some() {
        return Err(StoreError::Conflict(format!("Key already exists: {}", k.name)));
    }
    let policy = serde_json::to_string(&k.policy).map_err(|e| StoreError::Internal(e.into()))?;
    tx.execute(
        "INSERT INTO api_keys (name, key_hash, policy, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![k.name, k.key_hash, policy, k.created_at],
    )?;
    Ok(())
}

pub fn list_keys(tx: &Transaction<'_>) -> StoreResult<Vec<KeyRecord>> {
    let mut stmt = tx.prepare("SELECT name, key_hash, policy, created_at FROM api_keys ORDER BY name")?;
    let rows = stmt.query_map([], key_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn key_by_hash(tx: &Transaction<'_>, hash: &str) -> StoreResult<Option<KeyRecord>> {
    Ok(tx
        .query_row("SELECT name, key_hash, policy, created_at FROM api_keys WHERE key_hash = ?1", [hash], key_row)
        .optional()?)
}

pub fn delete_key(tx: &Transaction<'_>, name: &str) -> StoreResult<()> {
    if tx.execute("DELETE FROM api_keys WHERE name = ?1", [name])? == 0 {
        return Err(StoreError::NotFound(format!("Key not found: {name}")));
    }
    Ok(())
}

pub fn append_audit(tx: &Transaction<'_>, e: &AuditEntry) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO audit (at, principal, method, path, action, resource, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![e.at, e.principal, e.method, e.path, e.action, e.resource, e.status],
    )?;
    Ok(())
}

/// Newest first; `before` pages backwards by id.
pub fn list_audit(tx: &Transaction<'_>, q: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
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

pub fn put_secret(tx: &Transaction<'_>, s: &SecretRow) -> StoreResult<bool> {
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

pub fn list_secrets(tx: &Transaction<'_>, environment: &str) -> StoreResult<Vec<SecretMeta>> {
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

pub fn delete_secret(tx: &Transaction<'_>, environment: &str, name: &str) -> StoreResult<()> {
    if tx.execute("DELETE FROM secrets WHERE environment = ?1 AND name = ?2", [environment, name])? == 0 {
        return Err(StoreError::NotFound(format!("Secret not found: {environment}/{name}")));
    }
    Ok(())
}

pub fn load_secrets(tx: &Transaction<'_>) -> StoreResult<Vec<SecretRow>> {
    let mut stmt = tx.prepare("SELECT environment, name, nonce, ciphertext FROM secrets ORDER BY environment, name")?;
    let rows = stmt
        .query_map([], |r| {
            Ok(SecretRow { environment: r.get(0)?, name: r.get(1)?, nonce: r.get(2)?, ciphertext: r.get(3)? })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
