//! The embedded metadata store: one SQLite file in WAL mode with foreign keys on. A
//! [`SqliteTx`] (one `BEGIN IMMEDIATE` transaction) implements every domain trait, one
//! file per domain; the schema and its migrations are in [`migrations`], in one place.
//! `BEGIN IMMEDIATE` also serialises concurrent writers (two publishes get distinct,
//! consecutive version numbers).

mod access;
mod apis;
mod appconfig;
mod code;
mod functions;
pub mod migrations;
mod policies;
mod rows;

use super::{AuditEntry, AuditLog, AuditQuery, Store, StoreError, StoreResult, Tx};
use anyhow::Context;
use parking_lot::Mutex;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::path::Path;

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

/// One transaction; every domain trait is implemented on it.
pub struct SqliteTx<'c>(Transaction<'c>);

impl<'c> std::ops::Deref for SqliteTx<'c> {
    type Target = Transaction<'c>;
    fn deref(&self) -> &Transaction<'c> {
        &self.0
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Internal(e.into())
    }
}

impl SqliteStore {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        // Created 0600 before SQLite opens it: its -wal and -shm files take its mode.
        super::layout::open_private_file(path).with_context(|| format!("creating {}", path.display()))?;
        let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrations::run(&conn).context("creating or migrating the schema")?;
        Ok(SqliteStore { conn: Mutex::new(conn) })
    }

    fn tx<T>(&self, f: impl FnOnce(&SqliteTx<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.conn.lock();
        let tx = SqliteTx(conn.transaction_with_behavior(TransactionBehavior::Immediate)?);
        let out = f(&tx)?;
        tx.0.commit()?;
        Ok(out)
    }
}

impl Store for SqliteStore {
    fn write(&self, f: &mut dyn FnMut(&dyn Tx) -> StoreResult<()>) -> StoreResult<u64> {
        self.tx(|tx| {
            f(tx)?;
            let seq: i64 =
                tx.query_row("UPDATE change_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq", [], |r| r.get(0))?;
            Ok(seq as u64)
        })
    }

    fn read(&self, f: &mut dyn FnMut(&dyn Tx) -> StoreResult<()>) -> StoreResult<()> {
        let mut conn = self.conn.lock();
        let before = conn.total_changes();
        let tx = SqliteTx(conn.transaction_with_behavior(TransactionBehavior::Deferred)?);
        f(&tx)?;
        // A read that wrote would change state without advancing the change sequence:
        // refused (rolled back with the transaction).
        if tx.0.total_changes() != before {
            return Err(StoreError::internal("a read transaction tried to write"));
        }
        tx.0.commit()?;
        Ok(())
    }
}

impl Tx for SqliteTx<'_> {
    fn change_seq(&self) -> StoreResult<u64> {
        let seq: i64 = self.query_row("SELECT seq FROM change_seq WHERE id = 1", [], |r| r.get(0))?;
        Ok(seq as u64)
    }
}

impl AuditLog for SqliteStore {
    fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        self.tx(|tx| access::append_audit(tx, entry))
    }
    fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        self.tx(|tx| access::list_audit(tx, query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FunctionConfig, FunctionName};

    #[test]
    fn every_write_advances_the_change_sequence_and_reads_may_not_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("meta.db")).unwrap();
        let f = FunctionName::parse("f").unwrap();
        let seq0 = crate::store::read(&store, |tx| tx.change_seq()).unwrap();
        let (_, seq1) = crate::store::write(&store, |tx| tx.insert_function(&f, &FunctionConfig::default())).unwrap();
        assert_eq!(seq1, seq0 + 1);
        let err = crate::store::read(&store, |tx| tx.delete_function(&f)).unwrap_err();
        assert!(err.to_string().contains("internal") || matches!(err, StoreError::Internal(_)));
        assert!(crate::store::read(&store, |tx| tx.find_function(&f)).unwrap().is_some(), "the write was rolled back");
        // A failed write changes nothing, the sequence included.
        let failed = crate::store::write(&store, |tx| {
            tx.delete_function(&f)?;
            Err::<(), _>(StoreError::Conflict("no".into()))
        });
        assert!(failed.is_err());
        assert_eq!(crate::store::read(&store, |tx| tx.change_seq()).unwrap(), seq1);
        assert!(crate::store::read(&store, |tx| tx.find_function(&f)).unwrap().is_some());
    }
}
