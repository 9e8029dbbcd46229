//! Persistence: metadata behind the [`Store`] trait (SQLite today), code blobs and compiled
//! artifacts as content-addressed files. [`layout::DataDir`] is the one place that knows
//! the on-disk layout.
//!
//! Write order invariant: files are written (atomically) before the metadata row that
//! references them is committed, so a committed row never points at a missing file. A
//! crash in between leaves only an unreferenced, content-addressed file behind.

pub mod artifacts;
pub mod blobs;
pub mod files;
pub mod layout;
pub mod sqlite;
mod sqlite_access;
mod sqlite_apis;
pub mod sweep;

use crate::model::api::{ApiId, Integration, Method, RoutePath, StageName};
use crate::model::stage::{CacheSettings, CanaryPatch, CanarySettings, ThrottleSettings};
use crate::model::{
    AliasName, AliasRouting, AliasTarget, CodeHash, FunctionConfig, FunctionName, GuestKind, VersionId,
};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Internal(e.into())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Serialize)]
pub struct FunctionRecord {
    pub name: FunctionName,
    /// The code of `$LATEST`; `None` until the first upload.
    pub code_hash: Option<CodeHash>,
    pub code_size: Option<u64>,
    pub config: FunctionConfig,
    /// Instances of this function that may run at once (all versions together); `None` =
    /// unlimited, `0` = every invocation is throttled. Not versioned (as Lambda's).
    pub reserved_concurrency: Option<u32>,
    /// Changes on every change to `$LATEST` (code or configuration).
    pub revision_id: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionRecord {
    pub function: FunctionName,
    pub version: u32,
    pub code_hash: CodeHash,
    pub config: FunctionConfig,
    /// blake3 of the canonical (code hash, configuration): equal hashes, equal behaviour.
    pub version_hash: String,
    pub description: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AliasRecord {
    pub function: FunctionName,
    pub name: AliasName,
    pub version: VersionId,
    pub routing: Option<AliasRouting>,
    pub description: String,
    pub revision_id: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A compiled artifact: native code for one blob under one engine configuration.
#[derive(Debug, Clone)]
pub struct ArtifactRecord {
    pub code_hash: CodeHash,
    pub fingerprint: String,
    pub artifact_hash: String,
    pub size: u64,
    /// The guest ABI the compiler found (column `kind`, 'stdio' for rows older than it).
    pub kind: GuestKind,
}

pub struct AliasInput {
    pub target: AliasTarget,
    pub description: Option<String>,
    pub expected_revision: Option<String>,
}

pub struct PublishInput {
    pub expected_code_hash: Option<CodeHash>,
    pub expected_revision: Option<String>,
    pub description: String,
}

/// Everything about one function, for building the routing snapshot.
pub struct FunctionState {
    pub function: FunctionRecord,
    pub versions: Vec<VersionRecord>,
    pub aliases: Vec<AliasRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiRecord {
    pub id: ApiId,
    pub name: String,
    pub description: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RouteRecord {
    pub id: String,
    pub method: Method,
    pub path: RoutePath,
    pub integration: Integration,
    pub created_at: String,
    pub updated_at: String,
}

/// An immutable snapshot of an API's routes.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentRecord {
    pub api_id: ApiId,
    pub id: String,
    pub description: String,
    pub routes: Vec<RouteRecord>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageRecord {
    pub api_id: ApiId,
    pub name: StageName,
    pub deployment_id: String,
    pub variables: BTreeMap<String, String>,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanarySettings>,
    pub cache: CacheSettings,
    pub throttle: ThrottleSettings,
    /// blake3 (hex) of the stage's cache-invalidation key; the key itself is never stored.
    #[serde(skip)]
    pub invalidation_key_hash: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Whose secrets its functions see; `None`: the environment named like the stage.
    pub secret_environment: Option<String>,
}

/// A change to a stage; `variables` maps a name to a new value or `None` to remove it.
#[derive(Debug, Default)]
pub struct StagePatch {
    pub deployment_id: Option<String>,
    pub variables: BTreeMap<String, Option<String>>,
    pub description: Option<String>,
    /// `Some(None)` resets to the default (the stage's name).
    pub secret_environment: Option<Option<String>>,
    pub canary: Option<CanaryPatch>,
    pub cache: Option<CacheSettings>,
    pub throttle: Option<ThrottleSettings>,
}

/// One statement of a function's resource policy.
#[derive(Debug, Clone, Serialize)]
pub struct PermissionRecord {
    pub function: FunctionName,
    /// `None`: the unqualified function (which also covers `$LATEST`).
    pub qualifier: Option<String>,
    pub statement_id: String,
    pub principal: String,
    pub source: String,
    pub created_at: String,
}

/// Everything the gateway needs, for building the routing snapshot: every stage with the
/// deployment it serves.
pub struct GatewayState {
    pub stages: Vec<StageRecord>,
    pub deployments: Vec<DeploymentRecord>,
    pub permissions: Vec<PermissionRecord>,
}

/// The metadata store. Every method is one transaction: it either fully applies or leaves
/// nothing behind. Methods block (SQLite): call them off the async reactor.
pub trait Store: Send + Sync + 'static {
    fn create_function(&self, name: &FunctionName, config: &FunctionConfig) -> StoreResult<FunctionRecord>;
    fn get_function(&self, name: &FunctionName) -> StoreResult<FunctionRecord>;
    fn list_functions(&self) -> StoreResult<Vec<FunctionRecord>>;
    fn delete_function(&self, name: &FunctionName) -> StoreResult<()>;
    /// Records a blob and its artifact (both already on disk) and points `$LATEST` at it.
    fn set_code(&self, name: &FunctionName, artifact: &ArtifactRecord, size: u64) -> StoreResult<FunctionRecord>;
    fn update_config(&self, name: &FunctionName, config: &FunctionConfig) -> StoreResult<FunctionRecord>;
    /// Returns the version and whether it was created (false: `$LATEST` was unchanged
    /// since the newest version, which is returned).
    fn publish_version(&self, name: &FunctionName, input: &PublishInput) -> StoreResult<(VersionRecord, bool)>;
    fn list_versions(&self, name: &FunctionName) -> StoreResult<Vec<VersionRecord>>;
    fn get_version(&self, name: &FunctionName, version: u32) -> StoreResult<VersionRecord>;
    fn delete_version(&self, name: &FunctionName, version: u32) -> StoreResult<()>;
    /// Creates or updates; returns whether it was created.
    fn put_alias(&self, name: &FunctionName, alias: &AliasName, input: &AliasInput)
        -> StoreResult<(AliasRecord, bool)>;
    fn get_alias(&self, name: &FunctionName, alias: &AliasName) -> StoreResult<AliasRecord>;
    fn list_aliases(&self, name: &FunctionName) -> StoreResult<Vec<AliasRecord>>;
    fn delete_alias(&self, name: &FunctionName, alias: &AliasName) -> StoreResult<()>;
    fn add_artifact(&self, artifact: &ArtifactRecord) -> StoreResult<()>;

    fn create_api(&self, name: &str, description: &str) -> StoreResult<ApiRecord>;
    fn list_apis(&self) -> StoreResult<Vec<ApiRecord>>;
    fn get_api(&self, id: &ApiId) -> StoreResult<ApiRecord>;
    fn delete_api(&self, id: &ApiId) -> StoreResult<()>;
    /// Creates or replaces the route with this method and path in the API's draft.
    fn put_route(
        &self,
        api: &ApiId,
        method: Method,
        path: &RoutePath,
        integration: &Integration,
    ) -> StoreResult<(RouteRecord, bool)>;
    fn list_routes(&self, api: &ApiId) -> StoreResult<Vec<RouteRecord>>;
    fn get_route(&self, api: &ApiId, id: &str) -> StoreResult<RouteRecord>;
    fn delete_route(&self, api: &ApiId, id: &str) -> StoreResult<()>;
    /// Snapshots the draft; with `stage`, points that stage at it (creating the stage), or
    /// with `canary` too, makes it that (existing) stage's canary deployment.
    fn create_deployment(
        &self,
        api: &ApiId,
        description: &str,
        stage: Option<&StageName>,
        canary: Option<&CanaryPatch>,
    ) -> StoreResult<(DeploymentRecord, Option<StageRecord>)>;
    fn list_deployments(&self, api: &ApiId) -> StoreResult<Vec<DeploymentRecord>>;
    fn get_deployment(&self, api: &ApiId, id: &str) -> StoreResult<DeploymentRecord>;
    fn delete_deployment(&self, api: &ApiId, id: &str) -> StoreResult<()>;
    fn put_stage(
        &self,
        api: &ApiId,
        name: &StageName,
        deployment_id: &str,
        variables: &BTreeMap<String, String>,
        description: &str,
        secret_environment: Option<&str>,
    ) -> StoreResult<(StageRecord, bool)>;
    fn patch_stage(&self, api: &ApiId, name: &StageName, patch: &StagePatch) -> StoreResult<StageRecord>;
    fn list_stages(&self, api: &ApiId) -> StoreResult<Vec<StageRecord>>;
    fn get_stage(&self, api: &ApiId, name: &StageName) -> StoreResult<StageRecord>;
    fn delete_stage(&self, api: &ApiId, name: &StageName) -> StoreResult<()>;
    fn add_permission(&self, p: &PermissionRecord) -> StoreResult<PermissionRecord>;
    fn list_permissions(&self, function: &FunctionName, qualifier: Option<&str>) -> StoreResult<Vec<PermissionRecord>>;
    fn remove_permission(
        &self,
        function: &FunctionName,
        qualifier: Option<&str>,
        statement_id: &str,
    ) -> StoreResult<()>;
    fn load_gateway(&self) -> StoreResult<GatewayState>;

    /// Everything the data plane needs, read in one transaction.
    fn load_functions(&self) -> StoreResult<Vec<FunctionState>>;
    fn artifacts(&self, fingerprint: &str) -> StoreResult<Vec<ArtifactRecord>>;
    fn blobs(&self) -> StoreResult<Vec<(CodeHash, u64)>>;

    /// Stage takes the canary's deployment and merged variables; the canary stays at 0 %.
    fn promote_canary(&self, api: &ApiId, name: &StageName) -> StoreResult<StageRecord>;
    fn remove_canary(&self, api: &ApiId, name: &StageName) -> StoreResult<StageRecord>;
    /// Replaces the stage's cache-invalidation key hash.
    fn set_invalidation_key(&self, api: &ApiId, name: &StageName, key_hash: &str) -> StoreResult<()>;
    fn set_reserved_concurrency(&self, name: &FunctionName, reserved: Option<u32>) -> StoreResult<FunctionRecord>;
    // Access control: API keys, audit log, secrets (issue 6).
    fn create_key(&self, key: &KeyRecord) -> StoreResult<()>;
    fn list_keys(&self) -> StoreResult<Vec<KeyRecord>>;
    fn key_by_hash(&self, hash: &str) -> StoreResult<Option<KeyRecord>>;
    fn delete_key(&self, name: &str) -> StoreResult<()>;
    fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()>;
    fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>>;
    /// Creates or replaces; returns whether it was created.
    fn put_secret(&self, secret: &SecretRow) -> StoreResult<bool>;
    fn list_secrets(&self, environment: &str) -> StoreResult<Vec<SecretMeta>>;
    fn delete_secret(&self, environment: &str, name: &str) -> StoreResult<()>;
    fn load_secrets(&self) -> StoreResult<Vec<SecretRow>>;
}

/// An API key: only the hash of the bearer value is stored.
#[derive(Debug, Clone, Serialize)]
pub struct KeyRecord {
    pub name: String,
    #[serde(skip)]
    pub key_hash: String,
    pub policy: crate::model::policy::Policy,
    pub created_at: String,
}

/// One mutating management call.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    /// The key's name, or `admin`.
    pub principal: String,
    pub method: String,
    pub path: String,
    pub action: String,
    pub resource: String,
    pub status: u16,
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub principal: Option<String>,
    pub action: Option<String>,
    pub resource_prefix: Option<String>,
    pub since: Option<String>,
    pub before: Option<i64>,
    pub limit: u32,
}

/// A secret as stored: AEAD ciphertext and its nonce, never the value.
#[derive(Clone)]
pub struct SecretRow {
    pub environment: String,
    pub name: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecretMeta {
    pub environment: String,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
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
