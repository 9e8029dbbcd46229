//! The shared metadata store: PostgreSQL, for several hosts on one database. Each
//! transaction is a [`Sql`] connection on which [`SqlTx`] implements every domain trait —
//! the same code as the embedded store (`store/sql/`); this file only connects, maps
//! values, and orders transactions.
//!
//! * **Writers are serialised across hosts** the way SQLite's `BEGIN IMMEDIATE`
//!   serialises them in one process: a write transaction's first statement advances the
//!   change sequence, and that row's lock is held until commit, so the checks and writes
//!   that follow (at READ COMMITTED, each statement seeing every earlier commit) run as if
//!   alone. Two hosts publishing at once get distinct, consecutive version numbers.
//! * **Every commit notifies** (`NOTIFY waygate_changes, '<seq>'`, delivered by
//!   PostgreSQL only if the transaction commits): [`follow`] is how other hosts learn of it.
//! * **Reads** are `REPEATABLE READ READ ONLY`: one consistent view, and a write in a read
//!   is refused by the server.
//! * **Code is state** here: blob bytes are kept in `blob_bytes` too (the local files are
//!   then a cache any host refills); compiled artifacts never are (each host compiles for
//!   its own CPU and engine, under its own fingerprint).
//!
//! The client is `postgres` (the blocking facade of tokio-postgres: the store's traits
//! block, and run on spawn_blocking threads) with an r2d2 pool that checks a connection
//! before handing it out, so a connection the server dropped is replaced, not used.

pub mod follow;
mod schema;

use super::sql::{Arg, Dialect, Row, Sql, SqlTx, Val};
use super::{AuditEntry, AuditLog, AuditQuery, Committed, Store, StoreError, StoreResult, Tx};
use anyhow::Context;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{IsolationLevel, NoTls};
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

/// The channel every commit notifies, with the new change sequence as payload.
pub const CHANNEL: &str = "waygate_changes";
/// The channel of live-state events every host applies (`SCHEMA flush API STAGE`).
pub const CACHE_CHANNEL: &str = "waygate_cache";

/// Connections per host (`--store-pool-size` is not offered: management calls are short
/// and the data plane never queries; 8 covers concurrent management calls and rebuilds).
const POOL_SIZE: u32 = 8;
/// How long a management call waits for a connection before answering 503.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub struct PostgresStore {
    /// `None` only while dropping (see `Drop`).
    pool: Option<r2d2::Pool<Manager>>,
    config: postgres::Config,
    /// This open created the schema: the database was empty.
    pub created: bool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresStore({:?}/{:?})", self.config.get_hosts(), self.config.get_dbname())
    }
}

/// Parses a `postgres://` URL (libpq's URI and key=value forms are both accepted).
pub fn parse_url(url: &str) -> anyhow::Result<postgres::Config> {
    let mut config: postgres::Config = url.parse().context("not a PostgreSQL connection URL")?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("waygate");
    }
    Ok(config)
}

impl PostgresStore {
    /// Connects, and creates or migrates the schema (under a lock: hosts starting together
    /// don't race; a database migrated by a newer Waygate is refused).
    pub fn open(url: &str) -> anyhow::Result<Self> {
        let config = parse_url(url)?;
        let manager = Manager { config: config.clone() };
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(CONNECT_TIMEOUT)
            .error_handler(Box::new(r2d2::LoggingErrorHandler))
            .build(manager)
            .context("connecting to PostgreSQL")?;
        let mut conn = pool.get().context("connecting to PostgreSQL")?;
        let created = schema::migrate(&mut conn).context("creating or migrating the PostgreSQL schema")?;
        drop(conn);
        Ok(PostgresStore { pool: Some(pool), config, created })
    }

    pub fn config(&self) -> &postgres::Config {
        &self.config
    }

    fn conn(&self) -> StoreResult<r2d2::PooledConnection<Manager>> {
        let pool = self.pool.as_ref().ok_or_else(|| StoreError::internal("the store is closing"))?;
        pool.get().map_err(|e| StoreError::Unavailable(format!("the database is unreachable: {e}")))
    }
}

/// Closing a `postgres` connection blocks on its own runtime, which panics on an async
/// worker thread — where the last reference to the platform may well be dropped. The
/// pool is closed on a thread of its own.
impl Drop for PostgresStore {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let _ = std::thread::Builder::new().name("waygate-store-close".into()).spawn(move || drop(pool));
        }
    }
}

impl PostgresStore {
    /// The admin credentials every host shares (token, AWS access key id, AWS secret):
    /// read from the database, or — when none are stored yet — `mine()`, stored sealed
    /// with the master key (under a lock: two first hosts agree on one set).
    pub fn admin_credentials(
        &self,
        key: &crate::secrets::MasterKey,
        mine: impl FnOnce() -> anyhow::Result<AdminCredentials>,
    ) -> anyhow::Result<AdminCredentials> {
        let mut conn = self.conn().map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut tx = conn.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&(schema::MIGRATION_LOCK + 1)])?;
        let row = tx.query_opt(ADMIN_SELECT, &[])?;
        let out = match row {
            Some(r) => open_admin_row(&r, key)?,
            None => {
                let (token, id, secret) = mine()?;
                insert_admin(&mut tx, key, &token, &id, &secret)?;
                (token, id, secret)
            }
        };
        tx.commit()?;
        Ok(out)
    }
}

/// A host of the cluster, as its heartbeat last recorded it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HostRow {
    pub id: String,
    pub gateway_addr: String,
    pub started_at: String,
    /// Milliseconds since the last heartbeat (by the database's clock).
    pub seen_ms_ago: i64,
    pub applied_seq: u64,
    pub alive: bool,
}

impl PostgresStore {
    /// The hosts that ever joined, newest heartbeat first.
    pub fn hosts(&self) -> StoreResult<Vec<HostRow>> {
        let mut conn = self.conn()?;
        let rows = conn
            .query(
                "SELECT id, gateway_addr, started_at, \
                 (extract(epoch from clock_timestamp()) * 1000)::bigint - seen_at_ms, applied_seq \
                 FROM hosts ORDER BY seen_at_ms DESC, id",
                &[],
            )
            .map_err(pg_err)?;
        rows.iter()
            .map(|r| {
                let seen_ms_ago: i64 = r.try_get(3)?;
                Ok(HostRow {
                    id: r.try_get(0)?,
                    gateway_addr: r.try_get(1)?,
                    started_at: r.try_get(2)?,
                    seen_ms_ago,
                    applied_seq: r.try_get::<_, i64>(4)? as u64,
                    alive: seen_ms_ago <= follow::ALIVE_WITHIN.as_millis() as i64,
                })
            })
            .collect::<Result<_, postgres::Error>>()
            .map_err(pg_err)
    }
}

/// The associated data the admin token is sealed under.
const ADMIN_SEAL: &str = "waygate-cluster";

/// (admin token, AWS access key id, AWS secret access key).
pub type AdminCredentials = (String, String, zeroize::Zeroizing<String>);

const ADMIN_SELECT: &str =
    "SELECT token_nonce, token, aws_access_key_id, aws_nonce, aws_secret FROM cluster_admin WHERE id = 1";

fn open_admin_row(r: &postgres::Row, key: &crate::secrets::MasterKey) -> anyhow::Result<AdminCredentials> {
    let token = crate::store::SecretRow {
        environment: ADMIN_SEAL.into(),
        name: "admin-token".into(),
        nonce: r.try_get(0)?,
        ciphertext: r.try_get(1)?,
    };
    let aws = crate::store::AwsKey { access_key_id: r.try_get(2)?, nonce: r.try_get(3)?, sealed_secret: r.try_get(4)? };
    let token = key.open(&token).context(
        "opening the admin token stored by this database's first host: every host needs the same master key",
    )?;
    let secret = key.open_aws_secret(&aws)?;
    Ok((token.to_string(), aws.access_key_id, secret))
}

/// Stores the admin credentials, sealed (a second set is refused by the primary key).
fn insert_admin(
    tx: &mut postgres::Transaction<'_>,
    key: &crate::secrets::MasterKey,
    token: &str,
    access_key_id: &str,
    secret: &str,
) -> anyhow::Result<()> {
    let sealed = key.seal(ADMIN_SEAL, "admin-token", token.as_bytes())?;
    let aws = key.seal_aws_secret(access_key_id, secret)?;
    tx.execute(
        "INSERT INTO cluster_admin (id, token_nonce, token, aws_access_key_id, aws_nonce, aws_secret) \
         VALUES (1, $1, $2, $3, $4, $5)",
        &[&sealed.nonce, &sealed.ciphertext, &aws.access_key_id, &aws.nonce, &aws.sealed_secret],
    )?;
    Ok(())
}

/// A connection error (the server gone, the connection dropped) is "unavailable" (503);
/// anything else is internal.
fn pg_err(e: postgres::Error) -> StoreError {
    if e.is_closed() || e.as_db_error().is_none() && e.code().is_none() {
        StoreError::Unavailable(format!("the database connection failed: {e}"))
    } else {
        let detail = match e.as_db_error() {
            Some(db) => format!("{} ({}): {}", db.message(), db.code().code(), db.detail().unwrap_or("")),
            None => e.to_string(),
        };
        StoreError::internal(format!("PostgreSQL: {detail}"))
    }
}

/// A pooled connection with the statements it has prepared (each SQL text is parsed and
/// planned once per connection, not on every call: half the round trips).
pub struct Conn {
    client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
}

impl std::ops::Deref for Conn {
    type Target = postgres::Client;
    fn deref(&self) -> &postgres::Client {
        &self.client
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut postgres::Client {
        &mut self.client
    }
}

/// r2d2's connection manager for [`Conn`] (r2d2_postgres's pools a bare client, with no
/// room for the statement cache). A connection is checked before it is handed out.
pub struct Manager {
    config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Conn, postgres::Error> {
        Ok(Conn { client: self.config.connect(NoTls)?, statements: HashMap::new() })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(drop)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.client.is_closed()
    }
}

/// One transaction, as the domain code's [`Sql`].
struct PgConn<'c> {
    tx: RefCell<postgres::Transaction<'c>>,
    statements: RefCell<&'c mut HashMap<String, postgres::Statement>>,
}

impl<'c> PgConn<'c> {
    fn new(tx: postgres::Transaction<'c>, statements: &'c mut HashMap<String, postgres::Statement>) -> Self {
        PgConn { tx: RefCell::new(tx), statements: RefCell::new(statements) }
    }

    /// The prepared statement for `sql` (`?N` placeholders), prepared on first use. A
    /// prepared statement is not transactional: it outlives this transaction, whatever
    /// its outcome.
    fn statement(&self, sql: &str) -> Result<postgres::Statement, postgres::Error> {
        let sql = super::sql::numbered_placeholders(sql);
        if let Some(s) = self.statements.borrow().get(&sql) {
            return Ok(s.clone());
        }
        let s = self.tx.borrow_mut().prepare(&sql)?;
        self.statements.borrow_mut().insert(sql, s.clone());
        Ok(s)
    }
}

/// Arguments take the type PostgreSQL inferred for their placeholder (the schema's
/// integers are BIGINT, but an expression may make one INT4).
impl ToSql for Arg<'_> {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Arg::Null => Ok(IsNull::Yes),
            Arg::Int(i) => match *ty {
                Type::INT4 => i32::try_from(i)?.to_sql_checked(ty, out),
                Type::INT2 => i16::try_from(i)?.to_sql_checked(ty, out),
                Type::FLOAT8 => (i as f64).to_sql_checked(ty, out),
                Type::TEXT | Type::VARCHAR => i.to_string().to_sql_checked(ty, out),
                _ => i.to_sql_checked(ty, out),
            },
            Arg::Real(x) => match *ty {
                Type::FLOAT4 => (x as f32).to_sql_checked(ty, out),
                _ => x.to_sql_checked(ty, out),
            },
            Arg::Text(s) => s.to_sql_checked(ty, out),
            Arg::Bytes(b) => b.to_sql_checked(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

fn val(row: &postgres::Row, i: usize) -> Result<Val, postgres::Error> {
    Ok(match *row.columns()[i].type_() {
        Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map_or(Val::Null, Val::Int),
        Type::INT4 => row.try_get::<_, Option<i32>>(i)?.map_or(Val::Null, |v| Val::Int(v.into())),
        Type::INT2 => row.try_get::<_, Option<i16>>(i)?.map_or(Val::Null, |v| Val::Int(v.into())),
        Type::BOOL => row.try_get::<_, Option<bool>>(i)?.map_or(Val::Null, |v| Val::Int(v.into())),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map_or(Val::Null, Val::Real),
        Type::FLOAT4 => row.try_get::<_, Option<f32>>(i)?.map_or(Val::Null, |v| Val::Real(v.into())),
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map_or(Val::Null, Val::Bytes),
        _ => row.try_get::<_, Option<String>>(i)?.map_or(Val::Null, Val::Text),
    })
}

fn params<'a>(args: &'a [Arg<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}

impl Sql for PgConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64> {
        let statement = self.statement(sql).map_err(pg_err)?;
        self.tx.borrow_mut().execute(&statement, &params(args)).map_err(pg_err)
    }

    fn query(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<Vec<Row>> {
        let statement = self.statement(sql).map_err(pg_err)?;
        let rows = self.tx.borrow_mut().query(&statement, &params(args)).map_err(pg_err)?;
        rows.iter()
            .map(|r| (0..r.len()).map(|i| val(r, i)).collect::<Result<Vec<_>, _>>().map(Row))
            .collect::<Result<Vec<_>, _>>()
            .map_err(pg_err)
    }
}

impl Store for PostgresStore {
    fn write(&self, f: &mut dyn FnMut(&dyn Tx) -> StoreResult<()>) -> StoreResult<Committed> {
        let mut conn = self.conn()?;
        let Conn { client, statements } = &mut *conn;
        let tx = PgConn::new(client.transaction().map_err(pg_err)?, statements);
        let sql = SqlTx::new(&tx);
        // First: its row lock serialises this transaction after every other writer's.
        let seq = sql.advance_change_seq()?;
        f(&sql)?;
        sql.execute("SELECT pg_notify(?1, ?2)", super::sql::args![CHANNEL, seq.to_string()])?;
        let changes = sql.changes();
        drop(sql);
        tx.tx.into_inner().commit().map_err(pg_err)?;
        Ok(Committed { seq, changes })
    }

    fn read(&self, f: &mut dyn FnMut(&dyn Tx) -> StoreResult<()>) -> StoreResult<()> {
        let mut conn = self.conn()?;
        let Conn { client, statements } = &mut *conn;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(pg_err)?;
        let tx = PgConn::new(tx, statements);
        f(&SqlTx::new(&tx))?;
        tx.tx.into_inner().commit().map_err(pg_err)?;
        Ok(())
    }

    fn raw(&self, f: &mut dyn FnMut(&SqlTx<'_>) -> StoreResult<()>) -> StoreResult<()> {
        let mut conn = self.conn()?;
        let Conn { client, statements } = &mut *conn;
        let tx = PgConn::new(client.transaction().map_err(pg_err)?, statements);
        f(&SqlTx::new(&tx))?;
        tx.tx.into_inner().commit().map_err(pg_err)
    }
}

impl PostgresStore {
    /// Tells every host of this schema (this one included) to apply `event` to its live
    /// state: the response cache is per host, its flushes are for all of them.
    pub fn broadcast_cache(&self, event: &str) -> StoreResult<()> {
        let mut conn = self.conn()?;
        conn.execute("SELECT pg_notify($1, current_schema() || ' ' || $2)", &[&CACHE_CHANNEL, &event])
            .map_err(pg_err)?;
        Ok(())
    }

    /// The admin credentials, if a host (or a copy) stored them.
    pub fn stored_admin_credentials(
        &self,
        key: &crate::secrets::MasterKey,
    ) -> anyhow::Result<Option<AdminCredentials>> {
        let mut conn = self.conn().map_err(|e| anyhow::anyhow!("{e}"))?;
        let row = conn.query_opt(ADMIN_SELECT, &[])?;
        row.map(|r| open_admin_row(&r, key)).transpose()
    }
}

impl AuditLog for PostgresStore {
    fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        let mut conn = self.conn()?;
        let Conn { client, statements } = &mut *conn;
        let tx = PgConn::new(client.transaction().map_err(pg_err)?, statements);
        super::sql::append_audit(&SqlTx::new(&tx), entry)?;
        tx.tx.into_inner().commit().map_err(pg_err)
    }

    fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        let mut conn = self.conn()?;
        let Conn { client, statements } = &mut *conn;
        let tx = PgConn::new(client.transaction().map_err(pg_err)?, statements);
        let rows = super::sql::list_audit(&SqlTx::new(&tx), query)?;
        tx.tx.into_inner().commit().map_err(pg_err)?;
        Ok(rows)
    }
}
