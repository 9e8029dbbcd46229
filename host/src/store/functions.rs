//! Functions, their immutable versions and their aliases: records and the
//! [`FunctionStore`] trait. Mechanics only (rows in, rows out); the rules (who may
//! publish, when an alias may point where) are in `ops`.

use super::StoreResult;
use crate::model::{AliasName, AliasRouting, CodeHash, FunctionConfig, FunctionName, VersionId};

#[derive(Debug, Clone)]
pub struct FunctionRecord {
    pub name: FunctionName,
    /// The code of `$LATEST`; `None` until the first upload.
    pub code_hash: Option<CodeHash>,
    pub code_size: Option<u64>,
    /// SHA-256 of the package the code came in (the module, or the zip holding it), base64:
    /// Lambda's `CodeSha256`. `None` for code uploaded before it was recorded.
    pub package_sha256: Option<String>,
    pub config: FunctionConfig,
    /// Instances of this function that may run at once (all versions together); `None` =
    /// unlimited, `0` = every invocation is throttled. Not versioned (as Lambda's).
    pub reserved_concurrency: Option<u32>,
    /// Changes on every change to `$LATEST` (code or configuration).
    pub revision_id: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone)]
pub struct VersionRecord {
    pub function: FunctionName,
    pub version: u32,
    pub code_hash: CodeHash,
    /// `$LATEST`'s [`FunctionRecord::package_sha256`] when this version was published.
    pub package_sha256: Option<String>,
    pub config: FunctionConfig,
    /// blake3 of the canonical (code hash, configuration): equal hashes, equal behaviour.
    pub version_hash: String,
    pub description: String,
    pub created_at: String,
}

/// What a new version freezes; the store gives it the next number.
pub struct NewVersion<'a> {
    pub code_hash: &'a CodeHash,
    pub package_sha256: Option<&'a str>,
    pub config: &'a FunctionConfig,
    pub version_hash: &'a str,
    pub description: &'a str,
}

#[derive(Debug, Clone)]
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

/// Everything about one function, for building the routing snapshot.
pub struct FunctionState {
    pub function: FunctionRecord,
    pub versions: Vec<VersionRecord>,
    pub aliases: Vec<AliasRecord>,
}

impl FunctionState {
    /// The code `$LATEST` and the versions run.
    pub fn code_hashes(&self) -> std::collections::BTreeSet<CodeHash> {
        self.function.code_hash.iter().copied().chain(self.versions.iter().map(|v| v.code_hash)).collect()
    }
}

/// Functions, versions and aliases, inside one transaction ([`super::Tx`]). `find_*`
/// return `None` for a missing row; `delete_*` return whether a row was deleted.
pub trait FunctionStore {
    fn insert_function(&self, name: &FunctionName, config: &FunctionConfig) -> StoreResult<FunctionRecord>;
    fn find_function(&self, name: &FunctionName) -> StoreResult<Option<FunctionRecord>>;
    fn list_functions(&self) -> StoreResult<Vec<FunctionRecord>>;
    /// Deletes the function with its versions, aliases and policy.
    fn delete_function(&self, name: &FunctionName) -> StoreResult<bool>;
    /// Points `$LATEST` at `code` (recorded with [`super::CodeStore::record_code`]) and
    /// gives it a new revision id.
    /// Points `$LATEST` at `code`, which came in a package with this SHA-256 (base64).
    fn set_code(&self, name: &FunctionName, code: &CodeHash, package_sha256: &str) -> StoreResult<()>;
    /// Replaces `$LATEST`'s configuration and gives it a new revision id.
    fn set_config(&self, name: &FunctionName, config: &FunctionConfig) -> StoreResult<()>;
    fn set_reserved_concurrency(&self, name: &FunctionName, reserved: Option<u32>) -> StoreResult<()>;

    /// Inserts the function's next version (numbers are never reused).
    fn insert_version(&self, name: &FunctionName, v: &NewVersion<'_>) -> StoreResult<VersionRecord>;
    fn newest_version(&self, name: &FunctionName) -> StoreResult<Option<VersionRecord>>;
    fn find_version(&self, name: &FunctionName, version: u32) -> StoreResult<Option<VersionRecord>>;
    fn list_versions(&self, name: &FunctionName) -> StoreResult<Vec<VersionRecord>>;
    fn delete_version(&self, name: &FunctionName, version: u32) -> StoreResult<bool>;

    /// Creates or replaces the alias row as given.
    fn write_alias(&self, alias: &AliasRecord) -> StoreResult<()>;
    fn find_alias(&self, name: &FunctionName, alias: &AliasName) -> StoreResult<Option<AliasRecord>>;
    fn list_aliases(&self, name: &FunctionName) -> StoreResult<Vec<AliasRecord>>;
    /// Names of the aliases whose primary or weighted version is `version`.
    fn aliases_using(&self, name: &FunctionName, version: u32) -> StoreResult<Vec<String>>;
    fn delete_alias(&self, name: &FunctionName, alias: &AliasName) -> StoreResult<bool>;

    /// Every function with its versions and aliases.
    fn load_functions(&self) -> StoreResult<Vec<FunctionState>>;
    /// One function with its versions and aliases (what [`Self::load_functions`] holds for
    /// it), if it exists.
    fn load_function(&self, name: &FunctionName) -> StoreResult<Option<FunctionState>>;
}
