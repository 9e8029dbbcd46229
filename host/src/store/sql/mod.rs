//! The domain traits written once, over SQL that both engines run: [`SqlTx`] implements
//! every domain trait (one file per domain) on a [`Sql`] connection in a transaction,
//! which the embedded store (`sqlite/`) and the shared store (`postgres/`) provide.
//!
//! The SQL is the common subset of SQLite and PostgreSQL: `?N` placeholders (rewritten to
//! `$N` for PostgreSQL), `INSERT … ON CONFLICT`, `RETURNING`, integers as 64-bit, text
//! compared bytewise (PostgreSQL's columns are `COLLATE "C"`), an argument tested for NULL
//! cast (`CAST(?1 AS TEXT) IS NULL`: PostgreSQL must know its type). The one construct that
//! differs — reading a field of a JSON column — goes through [`Dialect`].
//!
//! Rows are read into owned values ([`Row`]) rather than through each driver's borrowed
//! row type: one small copy per column, which keeps the domain code driver-free.

mod access;
mod apis;
mod appconfig;
mod code;
mod functions;
mod policies;

use super::{StoreError, StoreResult, Tx};
use serde::Serialize;

pub use access::{append_audit, list_audit};

/// Which engine runs the SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A statement argument, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Bytes(&'a [u8]),
}

/// A column value, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

/// One result row.
#[derive(Debug)]
pub struct Row(pub Vec<Val>);

impl Row {
    /// Column `i` as `T`; a type mismatch is an internal error naming the column.
    pub fn get<T: FromVal>(&self, i: usize) -> StoreResult<T> {
        let v = self.0.get(i).ok_or_else(|| StoreError::internal(format!("no column {i} in the row")))?;
        T::from_val(v).map_err(|e| StoreError::internal(format!("column {i}: {e}")))
    }
}

/// A connection inside a transaction.
pub trait Sql {
    fn dialect(&self) -> Dialect;
    /// Runs a statement; returns the number of rows it changed.
    fn execute(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64>;
    fn query(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<Vec<Row>>;
}

/// One transaction of either engine: every domain trait is implemented on it. It records
/// what its statements change ([`super::changes::Changes`]) for the snapshot's
/// incremental rebuild.
pub struct SqlTx<'a>(pub &'a dyn Sql, std::cell::RefCell<super::changes::Changes>);

impl<'a> SqlTx<'a> {
    pub fn new(sql: &'a dyn Sql) -> Self {
        SqlTx(sql, Default::default())
    }

    /// What this transaction's statements changed so far.
    pub fn changes(&self) -> super::changes::Changes {
        self.1.borrow().clone()
    }
}

impl SqlTx<'_> {
    pub fn dialect(&self) -> Dialect {
        self.0.dialect()
    }

    pub fn execute(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64> {
        let n = self.0.execute(sql, args)?;
        self.1.borrow_mut().record(sql, args);
        Ok(n)
    }

    /// Every row, mapped.
    pub fn query_map<T>(&self, sql: &str, args: &[Arg<'_>], f: impl Fn(&Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
        self.0.query(sql, args)?.iter().map(f).collect()
    }

    /// The first row, mapped, if there is one.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        f: impl Fn(&Row) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        self.0.query(sql, args)?.first().map(f).transpose()
    }

    /// The first column of the first row as bytes, moved out of the row (no copy).
    pub fn query_bytes(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<Option<Vec<u8>>> {
        match self.0.query(sql, args)?.into_iter().next().and_then(|r| r.0.into_iter().next()) {
            None | Some(Val::Null) => Ok(None),
            Some(Val::Bytes(b)) => Ok(Some(b)),
            Some(other) => Err(StoreError::internal(format!("expected bytes, found {other:?}"))),
        }
    }

    /// The first row, mapped; no row is an internal error.
    pub fn query_one<T>(&self, sql: &str, args: &[Arg<'_>], f: impl Fn(&Row) -> StoreResult<T>) -> StoreResult<T> {
        self.query_opt(sql, args, f)?.ok_or_else(|| StoreError::internal("a query that returns a row returned none"))
    }

    /// `column`'s JSON field `field`, as text, in this engine's syntax.
    pub fn json_field(&self, column: &str, field: &str) -> String {
        match self.dialect() {
            Dialect::Sqlite => format!("json_extract({column}, '$.{field}')"),
            Dialect::Postgres => format!("({column}::jsonb ->> '{field}')"),
        }
    }
}

impl Tx for SqlTx<'_> {
    fn change_seq(&self) -> StoreResult<u64> {
        self.query_one("SELECT seq FROM change_seq WHERE id = 1", &[], |r| r.get(0))
    }
}

impl SqlTx<'_> {
    /// Advances the change sequence (the last statement of every write transaction, or —
    /// in PostgreSQL — the first, where its row lock serialises writers); returns it.
    pub fn advance_change_seq(&self) -> StoreResult<u64> {
        self.query_one("UPDATE change_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq", &[], |r| r.get(0))
    }
}

/// Converts a value into a statement argument.
pub trait ToArg {
    fn to_arg(&self) -> Arg<'_>;
}

impl ToArg for str {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}
impl ToArg for String {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}
impl ToArg for [u8] {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Bytes(self)
    }
}
impl ToArg for Vec<u8> {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Bytes(self)
    }
}
impl ToArg for f64 {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Real(*self)
    }
}
macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> Arg<'_> {
                Arg::Int(*self as i64)
            }
        }
    )*};
}
int_arg!(i64, i32, u16, u32, u64, usize);
impl<T: ToArg + ?Sized> ToArg for &T {
    fn to_arg(&self) -> Arg<'_> {
        (**self).to_arg()
    }
}
impl<T: ToArg> ToArg for Option<T> {
    fn to_arg(&self) -> Arg<'_> {
        self.as_ref().map_or(Arg::Null, |v| v.to_arg())
    }
}

/// `args![a, b, …]`: a statement's arguments, borrowed from the expressions (which live
/// until the end of the statement that uses them).
#[macro_export]
#[doc(hidden)]
macro_rules! sql_args {
    ($($x:expr),* $(,)?) => {
        &[$($crate::store::sql::ToArg::to_arg(&$x)),*][..]
    };
}
pub use crate::sql_args as args;

/// Reads a column value as a Rust value.
pub trait FromVal: Sized {
    fn from_val(v: &Val) -> Result<Self, String>;
}

impl FromVal for String {
    fn from_val(v: &Val) -> Result<Self, String> {
        match v {
            Val::Text(s) => Ok(s.clone()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}
impl FromVal for Vec<u8> {
    fn from_val(v: &Val) -> Result<Self, String> {
        match v {
            Val::Bytes(b) => Ok(b.clone()),
            other => Err(format!("expected bytes, found {other:?}")),
        }
    }
}
impl FromVal for f64 {
    fn from_val(v: &Val) -> Result<Self, String> {
        match v {
            Val::Real(f) => Ok(*f),
            Val::Int(i) => Ok(*i as f64),
            other => Err(format!("expected a number, found {other:?}")),
        }
    }
}
macro_rules! int_val {
    ($($t:ty),*) => {$(
        impl FromVal for $t {
            fn from_val(v: &Val) -> Result<Self, String> {
                match v {
                    Val::Int(i) => <$t>::try_from(*i).map_err(|_| format!("{i} out of range")),
                    other => Err(format!("expected an integer, found {other:?}")),
                }
            }
        }
    )*};
}
int_val!(i64, i32, u16, u32, u64);
impl<T: FromVal> FromVal for Option<T> {
    fn from_val(v: &Val) -> Result<Self, String> {
        match v {
            Val::Null => Ok(None),
            v => T::from_val(v).map(Some),
        }
    }
}

pub fn json<T: Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Internal(e.into()))
}

/// A column that failed to parse into its domain type (a corrupt or foreign row).
pub fn conv<T, E: std::fmt::Display>(r: Result<T, E>) -> StoreResult<T> {
    r.map_err(|e| StoreError::internal(format!("a stored value does not parse: {e}")))
}

pub fn parse_json<T: serde::de::DeserializeOwned>(s: &str) -> StoreResult<T> {
    conv(serde_json::from_str(s))
}

/// `ON CONFLICT (key…) DO UPDATE SET c = excluded.c, …` for every column of `cols` (a
/// comma-separated list) outside `key`: an insert that replaces the row it collides with.
pub fn upsert(key: &[&str], cols: &str) -> String {
    let set: Vec<String> =
        cols.split(',').map(str::trim).filter(|c| !key.contains(c)).map(|c| format!("{c} = excluded.{c}")).collect();
    format!("ON CONFLICT ({}) DO UPDATE SET {}", key.join(", "), set.join(", "))
}

/// `?N` placeholders → `$N` (PostgreSQL). Placeholders never appear inside the SQL's
/// string literals, which hold only fixed JSON paths and escape characters.
pub fn numbered_placeholders(sql: &str) -> String {
    sql.replace('?', "$")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_convert_and_report_mismatches() {
        let row = Row(vec![Val::Int(7), Val::Null, Val::Text("x".into()), Val::Int(-1)]);
        assert_eq!(row.get::<u32>(0).unwrap(), 7);
        assert_eq!(row.get::<Option<String>>(1).unwrap(), None);
        assert_eq!(row.get::<String>(2).unwrap(), "x");
        assert!(row.get::<u32>(3).is_err(), "negative into u32");
        assert!(row.get::<String>(0).is_err());
        assert!(row.get::<i64>(9).is_err());
        assert_eq!(upsert(&["a"], "a, b,c"), "ON CONFLICT (a) DO UPDATE SET b = excluded.b, c = excluded.c");
        assert_eq!(numbered_placeholders("a = ?1 AND b = ?12"), "a = $1 AND b = $12");
    }
}
