//! `waygate store copy`: an installation moved between the embedded store (a data
//! directory) and a shared one (PostgreSQL), either way. Every row of every table moves in
//! one target transaction (all or nothing), every code blob is checked against its hash
//! on the way, and the admin credentials come along, so tokens, keys, secrets and invoke
//! URLs' API ids all stay valid. Compiled artifacts are not copied: they belong to one
//! host's engine, and the target's hosts compile at their first start.
//!
//! Both stores must be stopped (the embedded one's lock is taken) and the target empty.

use super::layout::DataDir;
use super::postgres::PostgresStore;
use super::sql::{Arg, Dialect, SqlTx, Val};
use super::sqlite::SqliteStore;
use super::{blobs, Store, StoreError, StoreResult};
use crate::model::CodeHash;
use anyhow::{bail, Context};
use std::path::PathBuf;

/// Where an installation's state is.
#[derive(Debug, Clone)]
pub enum Location {
    /// A data directory (its `waygate.db` and `blobs/`).
    Embedded(PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

impl Location {
    pub fn parse(s: &str) -> Location {
        match s.starts_with("postgres://") || s.starts_with("postgresql://") {
            true => Location::Postgres(s.to_string()),
            false => Location::Embedded(PathBuf::from(s)),
        }
    }
}

/// The tables, parents before children (their foreign keys hold at every insert).
const TABLES: &[&str] = &[
    "blobs",
    "functions",
    "versions",
    "aliases",
    "permissions",
    "apis",
    "routes",
    "declared",
    "deployments",
    "stages",
    "api_keys",
    "audit",
    "secrets",
    "environment_values",
    "config_applications",
    "config_environments",
    "config_profiles",
    "config_versions",
    "deployment_strategies",
    "config_deployments",
    "alias_shifts",
];

/// What a copy moved.
#[derive(Debug, Default)]
pub struct CopyReport {
    /// Rows per table, in copy order.
    pub rows: Vec<(&'static str, usize)>,
    pub blobs: usize,
    pub blob_bytes: u64,
}

/// An opened side of the copy: the store, and for the embedded one its directory (code
/// files, credential files) and lock.
struct Side {
    store: std::sync::Arc<dyn Store>,
    pg: Option<std::sync::Arc<PostgresStore>>,
    dir: Option<(DataDir, std::fs::File)>,
}

fn open(at: &Location, create: bool) -> anyhow::Result<Side> {
    match at {
        Location::Postgres(url) => {
            let pg = std::sync::Arc::new(PostgresStore::open(url)?);
            Ok(Side { store: pg.clone(), pg: Some(pg), dir: None })
        }
        Location::Embedded(path) => {
            let data = DataDir::new(path);
            if !create && !data.database().exists() {
                bail!("{} holds no Waygate installation (no {})", path.display(), data.database().display());
            }
            data.create_dirs().with_context(|| format!("creating {}", path.display()))?;
            let lock = crate::platform::lock_data_dir(&data)?;
            let store = SqliteStore::open(&data.database())?;
            Ok(Side { store: std::sync::Arc::new(store), pg: None, dir: Some((data, lock)) })
        }
    }
}

/// A table's column names, in order.
fn columns(tx: &SqlTx<'_>, table: &str) -> StoreResult<Vec<String>> {
    let sql = match tx.dialect() {
        Dialect::Sqlite => "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
        Dialect::Postgres => {
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = ?1 ORDER BY ordinal_position"
        }
    };
    tx.query_map(sql, super::sql::args![table], |r| r.get(0))
}

fn arg(v: &Val) -> Arg<'_> {
    match v {
        Val::Null => Arg::Null,
        Val::Int(i) => Arg::Int(*i),
        Val::Real(f) => Arg::Real(*f),
        Val::Text(s) => Arg::Text(s),
        Val::Bytes(b) => Arg::Bytes(b),
    }
}

/// One table's rows, as (column names, rows) restricted to the columns both sides have.
type TableRows = (Vec<String>, Vec<super::sql::Row>);

/// Copies the installation at `from` into the empty store at `to`. `key` is the master
/// key of the installation (the shared store keeps the admin credentials sealed with it).
pub fn copy(from: &Location, to: &Location, key: &crate::secrets::MasterKey) -> anyhow::Result<CopyReport> {
    let source = open(from, false)?;
    let target = open(to, true)?;
    let err = |e: StoreError| anyhow::anyhow!("{e}");

    // The target's columns decide what is read (a newer source's extra column would have
    // nowhere to go; none exists today: both schemas come from one definition).
    let mut wanted: Vec<(&'static str, Vec<String>)> = Vec::new();
    target
        .store
        .raw(&mut |tx| {
            for table in TABLES {
                let n: i64 = tx.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[], |r| r.get(0))?;
                if n > 0 {
                    return Err(StoreError::Conflict(format!(
                        "the target already holds data ({n} rows in {table}): copy into an empty store"
                    )));
                }
                wanted.push((table, columns(tx, table)?));
            }
            Ok(())
        })
        .map_err(err)?;

    let mut tables: Vec<TableRows> = Vec::new();
    let mut seq = 0u64;
    source
        .store
        .raw(&mut |tx| {
            tables.clear();
            for (table, target_cols) in &wanted {
                let have = columns(tx, table)?;
                let cols: Vec<String> = target_cols.iter().filter(|c| have.contains(c)).cloned().collect();
                let rows = tx.query_map(&format!("SELECT {} FROM {table}", cols.join(", ")), &[], |r| {
                    Ok(super::sql::Row(r.0.clone()))
                })?;
                tables.push((cols, rows));
            }
            seq = tx.query_one("SELECT seq FROM change_seq WHERE id = 1", &[], |r| r.get(0))?;
            Ok(())
        })
        .map_err(err)?;

    let mut report = CopyReport::default();
    let blob_table = TABLES.iter().position(|t| *t == "blobs").unwrap_or(0);
    target
        .store
        .raw(&mut |tx| {
            report = CopyReport::default();
            for ((table, _), (cols, rows)) in wanted.iter().zip(&tables) {
                let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
                let sql = format!("INSERT INTO {table} ({}) VALUES ({})", cols.join(", "), marks.join(", "));
                for row in rows {
                    let args: Vec<Arg<'_>> = row.0.iter().map(arg).collect();
                    tx.execute(&sql, &args)?;
                }
                report.rows.push((table, rows.len()));
            }
            // Code: every blob verified on its way, into the target's files or table.
            for row in &tables[blob_table].1 {
                let hash: String = row.get(0)?;
                let hash = super::sql::conv(CodeHash::parse(&hash))?;
                let bytes = read_blob(&source, &hash).map_err(StoreError::Internal)?;
                report.blob_bytes += bytes.len() as u64;
                report.blobs += 1;
                match &target.dir {
                    Some((data, _)) => blobs::put(data, &hash, &bytes).map_err(StoreError::Internal)?,
                    None => {
                        tx.execute(
                            "INSERT INTO blob_bytes (code_hash, bytes) VALUES (?1, ?2)",
                            super::sql::args![hash.to_hex(), bytes],
                        )?;
                    }
                }
            }
            tx.execute("UPDATE change_seq SET seq = ?1 WHERE id = 1", super::sql::args![seq])?;
            if tx.dialect() == Dialect::Postgres {
                // The audit ids were copied as they were: the next one follows them.
                tx.query_map(
                    "SELECT setval(pg_get_serial_sequence('audit', 'id'), GREATEST((SELECT MAX(id) FROM audit), 1))",
                    &[],
                    |_| Ok(()),
                )?;
            }
            Ok(())
        })
        .map_err(err)?;

    copy_admin(&source, &target, key)?;
    Ok(report)
}

/// A blob's bytes from the source, checked against their hash.
fn read_blob(source: &Side, hash: &CodeHash) -> anyhow::Result<Vec<u8>> {
    match &source.dir {
        Some((data, _)) => blobs::read_verified(data, hash),
        None => {
            let bytes = super::read(source.store.as_ref(), |tx| tx.blob_bytes(hash))
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .with_context(|| format!("code blob {hash} is recorded but its bytes are missing"))?;
            let actual = CodeHash::of(&bytes);
            if actual != *hash {
                bail!("code blob {hash} failed its integrity check (its bytes hash to {actual})");
            }
            Ok(bytes)
        }
    }
}

/// The admin token and AWS pair come along: from the data directory's files into the
/// database (sealed), or out of the database into the data directory's files.
fn copy_admin(source: &Side, target: &Side, key: &crate::secrets::MasterKey) -> anyhow::Result<()> {
    let creds = match (&source.dir, &source.pg) {
        (Some((data, _)), _) => {
            let token = std::fs::read_to_string(data.admin_token()).unwrap_or_default().trim().to_string();
            let aws = crate::platform::read_aws_credentials(data);
            match (token.is_empty(), aws) {
                (false, Some(aws)) => Some((token, aws.access_key_id, aws.secret)),
                _ => None,
            }
        }
        (None, Some(pg)) => pg.stored_admin_credentials(key)?,
        (None, None) => None,
    };
    let Some((token, id, secret)) = creds else { return Ok(()) };
    match (&target.dir, &target.pg) {
        (Some((data, _)), _) => {
            super::files::write_atomic(&data.tmp_dir(), &data.admin_token(), token.as_bytes())?;
            crate::platform::write_aws_credentials(data, &crate::platform::AdminAws { access_key_id: id, secret })
        }
        (None, Some(pg)) => pg.admin_credentials(key, || Ok((token, id, secret))).map(drop),
        (None, None) => Ok(()),
    }
}
