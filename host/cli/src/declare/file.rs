//! The declarative file (`waygate.toml`): its format ([`RawFile`], read and written by
//! serde, so `export` writes exactly what `plan` reads). desired.rs validates it into the
//! desired state.
//!
//! TOML, through the `toml` crate: well kept (the format of Cargo itself), with spans on
//! values and keys for error positions, and a format people already review in git.
//! `serde_yaml` is unmaintained and YAML's implicit typing (`no` → false, `1.10` → 1.1)
//! is a trap for versions and weights.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use toml::Spanned;
use waygate::model::api::Integration;
use waygate::model::policy::Policy;
use waygate::model::stage::{CacheSettings, CapacitySettings, ThrottleSettings};

/// Largest file read (a declaration, not code: code files are read separately).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

// ---- the format ------------------------------------------------------------------------

/// The whole file. Every table refuses keys it doesn't know.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub functions: BTreeMap<Spanned<String>, RawFunction>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub apis: BTreeMap<Spanned<String>, RawApi>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub keys: BTreeMap<Spanned<String>, RawKey>,
}

/// A function: `$LATEST` (code and configuration), the versions published from the file,
/// aliases, its resource policy and reserved concurrency.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawFunction {
    /// The `.wasm` file, relative to the declaration.
    pub code: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Values `secret:NAME` are references to a secret of the invoking environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbound: Vec<String>,
    /// Configuration profiles read (`APP/PROFILE`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_concurrency: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<Spanned<RawVersion>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<Spanned<String>, Spanned<RawAlias>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<Spanned<RawPermission>>,
}

/// A published version: what `$LATEST` was when it was published. Fields left out are the
/// function's own (its code and configuration above).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawVersion {
    pub version: u32,
    /// The version's description (given when publishing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The function's description when it was published (a version keeps a copy). Left
    /// out: the function's, and an existing version's copy is not compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Vec<String>>,
}

/// `version = 3` or `"$LATEST"`; `routing = { "4" = 0.1 }` sends 10 % to version 4.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlias {
    pub version: VersionRef,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routing: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum VersionRef {
    Number(u32),
    Text(String),
}

impl VersionRef {
    pub fn text(&self) -> String {
        match self {
            VersionRef::Number(n) => n.to_string(),
            VersionRef::Text(t) => t.clone(),
        }
    }
}

/// A statement of the function's resource policy. With `api` (an API of this file, by
/// name), the principal is that API and `source` is `STAGE/METHOD/PATH` below it
/// (default `*/*/*`); without, `principal` (`"*"` or `"api:ID"`) and the full `source`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPermission {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
}

/// An API, identified by its name (unique among the APIs a plan sees).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Spanned<RawRoute>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stages: BTreeMap<Spanned<String>, Spanned<RawStage>>,
}

/// A route: the integration is the management API's own (`type = "function"`, `target`;
/// `type = "http_proxy"`, `url`; `type = "mock"`, `status`, `body`, `headers`).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub method: String,
    pub path: String,
    pub integration: Integration,
}

/// A stage: it serves the API's routes as declared (a deployment is made when they
/// differ from what it serves), with its variables and settings.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whose secrets, environment values and configuration its functions see (default:
    /// the stage's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<ThrottleSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacitySettings>,
}

/// An API key: its policy. The key itself is never in the file: `apply` prints a new one
/// once.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    pub policy: Policy,
}
