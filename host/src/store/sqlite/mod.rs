//! The embedded metadata store: one SQLite file in WAL mode with foreign keys on. Each
//! transaction is a `BEGIN IMMEDIATE` one, wrapped as a [`Sql`] connection on which
//! [`SqlTx`] implements every domain trait (`store/sql/`, shared with PostgreSQL); the
//! schema and its migrations are in [`migrations`], in one place. `BEGIN IMMEDIATE` also
//! serialises concurrent writers (two publishes get distinct, consecutive version numbers).

pub mod migrations;

use super::sql::{Arg, Dialect, Row, Sql, SqlTx, Val};
use super::{AuditEntry, AuditLog, AuditQuery, Committed, Store, StoreError, StoreResult, Tx};
use anyhow::Context;
use parking_lot::Mutex;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::path::Path;

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

/// One transaction, as the domain code's [`Sql`].
struct SqliteConn<'c>(Transaction<'c>);

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Arg::Null => ValueRef::Null,
            Arg::Int(i) => ValueRef::Integer(i),
            Arg::Real(f) => ValueRef::Real(f),
            Arg::Text(s) => ValueRef::Text(s.as_bytes()),
            Arg::Bytes(b) => ValueRef::Blob(b),
        }))
    }
}

impl Sql for SqliteConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64> {
        let mut stmt = self.0.prepare_cached(sql)?;
        Ok(stmt.execute(rusqlite::params_from_iter(args.iter()))? as u64)
    }

    fn query(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<Vec<Row>> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let n = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut vals = Vec::with_capacity(n);
            for i in 0..n {
                vals.push(match r.get_ref(i)? {
                    ValueRef::Null => Val::Null,
                    ValueRef::Integer(i) => Val::Int(i),
                    ValueRef::Real(f) => Val::Real(f),
                    ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Val::Bytes(b.to_vec()),
                });
            }
            out.push(Row(vals));
        }
        Ok(out)
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

    fn tx<T>(&self, f: impl FnOnce(&SqlTx<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.conn.lock();
        let tx = SqliteConn(conn.transaction_with_behavior(TransactionBehavior::Immediate)?);
        let out = f(&SqlTx::new(&tx))?;
        tx.0.commit()?;
        Ok(out)
    }
}

impl Store for SqliteStore {
    fn write(&self, f: &mut dyn FnMut(&dyn Tx) -> StoreResult<()>) -> StoreResult<Committed> {
        self.tx(|tx| {
            f(tx)?;
            Ok(Committed { seq: tx.advance_change_seq()?, changes: tx.changes() })
        })
    }

    fn read(&self, f: &mut dyn FnMut(&dyn Tx) -> StoreResult<()>) -> StoreResult<()> {
        let mut conn = self.conn.lock();
        let before = conn.total_changes();
        let tx = SqliteConn(conn.transaction_with_behavior(TransactionBehavior::Deferred)?);
        f(&SqlTx::new(&tx))?;
        // A read that wrote would change state without advancing the change sequence:
        // refused (rolled back with the transaction).
        if tx.0.total_changes() != before {
            return Err(StoreError::internal("a read transaction tried to write"));
        }
        tx.0.commit()?;
        Ok(())
    }

    fn raw(&self, f: &mut dyn FnMut(&SqlTx<'_>) -> StoreResult<()>) -> StoreResult<()> {
        self.raw_tx(f)
    }
}

impl SqliteStore {
    fn raw_tx(&self, f: &mut dyn FnMut(&SqlTx<'_>) -> StoreResult<()>) -> StoreResult<()> {
        self.tx(|tx| f(tx))
    }
}

impl AuditLog for SqliteStore {
    fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        self.tx(|tx| super::sql::append_audit(tx, entry))
    }
    fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        self.tx(|tx| super::sql::list_audit(tx, query))
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
        let (_, c) = crate::store::write(&store, |tx| tx.insert_function(&f, &FunctionConfig::default())).unwrap();
        let seq1 = c.seq;
        assert_eq!(seq1, seq0 + 1);
        assert_eq!(c.changes.functions.iter().collect::<Vec<_>>(), ["f"], "the write says what it changed");
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
