//! Persistence: metadata behind narrow traits, one per domain ([`FunctionStore`],
//! [`CodeStore`], [`ApiStore`], [`PolicyStore`], [`KeyStore`], [`SecretStore`],
//! [`AuditLog`]), implemented by [`sqlite::SqliteStore`] today; code blobs and compiled
//! artifacts as content-addressed files. [`layout::DataDir`] is the one place that knows
//! the on-disk layout.
//!
//! A store holds no business rules and knows nothing of HTTP: its methods move rows. The
//! rules live in `ops`, which runs them inside one transaction ([`Store::write`]: a
//! [`Tx`] that implements every domain trait), so a check and the write it guards see
//! the same state.
//!
//! Every write transaction advances the **change sequence** ([`Tx::change_seq`]) in the
//! same commit: the routing snapshot records the sequence it was built from, and a
//! store shared by several hosts (PostgreSQL) will broadcast it so each host knows when
//! to rebuild.
//!
//! Write order invariant: files are written (atomically) before the metadata row that
//! references them is committed, so a committed row never points at a missing file. A
//! crash in between leaves only an unreferenced, content-addressed file behind.

pub mod apis;
pub mod appconfig;
pub mod artifacts;
pub mod audit;
pub mod blobs;
pub mod changes;
pub mod code;
pub mod copy;
pub mod files;
pub mod functions;
pub mod keys;
pub mod layout;
pub mod policies;
pub mod postgres;
pub mod secrets;
pub mod sql;
pub mod sqlite;
pub mod sweep;
pub mod values;

pub use apis::{ApiRecord, ApiStore, DeploymentRecord, GatewayState, RouteRecord, StageRecord};
pub use appconfig::{ConfigStore, DeployedProfile};
pub use audit::{AuditEntry, AuditLog, AuditQuery};
pub use code::{ArtifactRecord, CodeStore};
pub use functions::{AliasRecord, FunctionRecord, FunctionState, FunctionStore, NewVersion, VersionRecord};
pub use keys::{AwsKey, KeyRecord, KeyStore};
pub use policies::{PermissionRecord, PolicyStore};
pub use secrets::{SecretMeta, SecretRow, SecretStore};
pub use values::{ValueRecord, ValueStore};

use crate::model::{CodeHash, FunctionConfig};
use serde::Serialize;

/// Store errors are the domain's errors: a missing row is `NotFound { kind, id }`.
pub type StoreError = crate::model::error::Error;
pub type StoreResult<T> = Result<T, StoreError>;

/// One transaction over every domain. Obtained from [`Store::write`] or [`Store::read`];
/// its changes are committed together or not at all.
pub trait Tx:
    FunctionStore + CodeStore + ApiStore + PolicyStore + KeyStore + SecretStore + ValueStore + ConfigStore
{
    /// The change sequence as of this transaction (after its own write, in a write).
    fn change_seq(&self) -> StoreResult<u64>;
}

/// The metadata store. Methods block (SQLite): call them off the async reactor (the
/// platform's `read` and `commit` do).
pub trait Store: AuditLog + Send + Sync + 'static {
    /// Runs `f` in one write transaction and commits it, advancing the change sequence.
    /// An error from `f` rolls everything back. Returns the new change sequence and what
    /// the transaction changed.
    fn write(&self, f: &mut dyn FnMut(&dyn Tx) -> StoreResult<()>) -> StoreResult<Committed>;
    /// Runs `f` in one read transaction (a consistent view); a write in it is refused.
    fn read(&self, f: &mut dyn FnMut(&dyn Tx) -> StoreResult<()>) -> StoreResult<()>;
    /// Runs `f` on the transaction's SQL itself, committed unless it fails, without
    /// advancing the change sequence: for whole-store operations that move rows of every
    /// table ([`copy`]), never for a change of state the platform serves.
    fn raw(&self, f: &mut dyn FnMut(&sql::SqlTx<'_>) -> StoreResult<()>) -> StoreResult<()>;
}

/// A committed write: its change sequence and what it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub seq: u64,
    pub changes: changes::Changes,
}

/// [`Store::write`] for a closure that returns a value.
pub fn write<T>(store: &dyn Store, f: impl FnOnce(&dyn Tx) -> StoreResult<T>) -> StoreResult<(T, Committed)> {
    let mut f = Some(f);
    let mut out = None;
    let committed = store.write(&mut |tx| {
        let f = f.take().ok_or_else(|| StoreError::internal("a transaction body ran twice"))?;
        out = Some(f(tx)?);
        Ok(())
    })?;
    Ok((out.ok_or_else(|| StoreError::internal("a transaction body did not run"))?, committed))
}

/// [`Store::read`] for a closure that returns a value.
pub fn read<T>(store: &dyn Store, f: impl FnOnce(&dyn Tx) -> StoreResult<T>) -> StoreResult<T> {
    let mut f = Some(f);
    let mut out = None;
    store.read(&mut |tx| {
        let f = f.take().ok_or_else(|| StoreError::internal("a transaction body ran twice"))?;
        out = Some(f(tx)?);
        Ok(())
    })?;
    out.ok_or_else(|| StoreError::internal("a transaction body did not run"))
}

/// Everything the routing snapshot is built from, read in one transaction.
pub struct RoutingState {
    pub change_seq: u64,
    pub functions: Vec<FunctionState>,
    pub gateway: GatewayState,
    pub artifacts: Vec<ArtifactRecord>,
    pub keys: Vec<KeyRecord>,
    pub secrets: Vec<SecretRow>,
    pub values: Vec<ValueRecord>,
    /// What each environment serves of each configuration profile.
    pub config: Vec<DeployedProfile>,
    /// (function, environment) pairs that environments' monitors watch; an alias shift's
    /// monitors watch (function, `#VERSION`), its new version's invocations.
    pub watched: Vec<(String, String)>,
    /// Alias shifts in progress.
    pub shifts: Vec<appconfig::ShiftRecord>,
}

/// Reads the [`RoutingState`] for an engine `fingerprint` in one consistent view.
pub fn load_routing_state(store: &dyn Store, fingerprint: &str) -> StoreResult<RoutingState> {
    read(store, |tx| {
        let active = active_shifts(tx)?;
        Ok(RoutingState {
            change_seq: tx.change_seq()?,
            functions: tx.load_functions()?,
            gateway: tx.load_gateway()?,
            artifacts: tx.artifacts(fingerprint)?,
            keys: tx.list_keys()?,
            secrets: tx.load_secrets()?,
            values: tx.load_values()?,
            config: appconfig::load_deployed(tx)?,
            watched: load_watched(tx, &active)?,
            shifts: active,
        })
    })
}

/// Alias shifts in progress.
pub fn active_shifts(tx: &dyn Tx) -> StoreResult<Vec<appconfig::ShiftRecord>> {
    Ok(tx.list_shifts(None)?.into_iter().filter(|x| x.end == appconfig::DeploymentEnd::Active).collect())
}

/// One function's alias shifts in progress.
pub fn active_shifts_of(tx: &dyn Tx, function: &str) -> StoreResult<Vec<appconfig::ShiftRecord>> {
    Ok(tx.list_shifts(Some(function))?.into_iter().filter(|x| x.end == appconfig::DeploymentEnd::Active).collect())
}

/// (function, environment) pairs that environments' monitors watch; an active alias
/// shift's monitors watch (function, `#VERSION`), its new version's invocations.
pub fn load_watched(tx: &dyn Tx, active: &[appconfig::ShiftRecord]) -> StoreResult<Vec<(String, String)>> {
    Ok(tx
        .list_environments(None)?
        .into_iter()
        .flat_map(|e| e.monitors.into_iter().map(move |m| (m.function().to_string(), e.name.clone())))
        .chain(
            active
                .iter()
                .filter(|x| !x.monitors.is_empty())
                .map(|x| (x.function.clone(), appconfig::version_window_key(x.to_version))),
        )
        .collect())
}

/// blake3 over the canonical JSON of (code hash, configuration). `FunctionConfig` has a
/// fixed field order and a sorted env map, so equal inputs give equal bytes.
pub fn version_hash(code_hash: &CodeHash, config: &FunctionConfig) -> String {
    #[derive(Serialize)]
    struct Canonical<'a> {
        code_hash: &'a CodeHash,
        config: &'a FunctionConfig,
    }
    // Serializing a plain struct of strings and maps cannot fail.
    let bytes = serde_json::to_vec(&Canonical { code_hash, config }).unwrap_or_default();
    crate::model::hash::blake3_hex(&bytes)
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// A fresh revision id (aliases and `$LATEST` get one on every change).
pub fn new_revision() -> String {
    uuid::Uuid::new_v4().to_string()
}
