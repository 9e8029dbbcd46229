//! A function's configuration (the part of `$LATEST` besides its code) and the limits it
//! is validated against.

use super::Invalid;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Limits on what a function may ask for. The defaults follow Lambda's
/// except where Wasm differs: memory tops out at 4096 MB because a wasm32 linear memory
/// cannot exceed 4 GiB, and timeouts are in milliseconds (min 10 ms) because Wasm
/// functions commonly finish in microseconds.
#[derive(Debug, Clone)]
pub struct Limits {
    pub min_memory_mb: u32,
    pub max_memory_mb: u32,
    pub min_timeout_ms: u32,
    pub max_timeout_ms: u32,
    /// Sum of the bytes of all keys and values.
    pub max_env_bytes: usize,
    pub max_description_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            min_memory_mb: 1,
            max_memory_mb: 4096,
            min_timeout_ms: 10,
            max_timeout_ms: 900_000,
            max_env_bytes: 4096,
            max_description_chars: 256,
        }
    }
}

pub const DEFAULT_MEMORY_MB: u32 = 128;
pub const DEFAULT_TIMEOUT_MS: u32 = 3_000;

/// Keys Lambda reserves plus Waygate's own `WAYGATE_` prefix: the
/// host sets these for every invocation, so a function may not.
const RESERVED_KEYS: &[&str] = &[
    "_HANDLER",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];
const RESERVED_PREFIXES: &[&str] = &["AWS_LAMBDA_LOG_", "AWS_ACCESS_KEY", "WAYGATE_"];

fn is_reserved(key: &str) -> bool {
    RESERVED_KEYS.contains(&key) || RESERVED_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// `[a-zA-Z]([a-zA-Z0-9_])+`, Lambda's pattern (so at least two characters).
fn is_valid_env_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && key.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The configuration of `$LATEST`, copied whole into every version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionConfig {
    pub env: BTreeMap<String, String>,
    pub memory_mb: u32,
    pub timeout_ms: u32,
    pub description: String,
    /// Where its outbound HTTP requests may go (`crate::backend::allow_list`): entries
    /// `SCHEME://HOST[:PORT]` with `${environment.NAME}` placeholders. Empty: nowhere.
    /// Left out of the JSON when empty, so versions published before it keep their hash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbound: Vec<String>,
    /// The configuration profiles it may read (`APP/PROFILE`), as files under `/config`;
    /// which version it sees is the invoking environment's. Left out of the JSON when
    /// empty, like `outbound`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<String>,
    /// Lambda's `Role`, `Handler` and `Runtime`, as an AWS-style client set them: kept and
    /// shown back (Waygate runs WebAssembly whatever they say). Left out of the JSON when
    /// empty, like `outbound`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lambda: BTreeMap<String, String>,
}

/// The keys [`FunctionConfig::lambda`] may hold.
pub const LAMBDA_FIELDS: [&str; 3] = ["Handler", "Role", "Runtime"];
/// Longest value of a [`LAMBDA_FIELDS`] entry (Lambda's `Role` ARN limit).
pub const MAX_LAMBDA_FIELD_CHARS: usize = 2048;

impl Default for FunctionConfig {
    fn default() -> Self {
        FunctionConfig {
            env: BTreeMap::new(),
            memory_mb: DEFAULT_MEMORY_MB,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            description: String::new(),
            outbound: Vec::new(),
            config: Vec::new(),
            lambda: BTreeMap::new(),
        }
    }
}

/// A partial update (PATCH /config, or the optional fields of create). `env` replaces the
/// whole map, as Lambda's UpdateFunctionConfiguration does.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionConfigPatch {
    pub env: Option<BTreeMap<String, String>>,
    pub memory_mb: Option<u32>,
    pub timeout_ms: Option<u32>,
    pub description: Option<String>,
    /// Replaces the whole allow-list (`[]` clears it).
    pub outbound: Option<Vec<String>>,
    /// Replaces the whole list of configuration profiles (`[]` clears it).
    pub config: Option<Vec<String>>,
    /// Sets these of Lambda's `Role`, `Handler`, `Runtime` (the others are kept).
    pub lambda: Option<BTreeMap<String, String>>,
}

impl FunctionConfig {
    pub fn apply(&self, patch: FunctionConfigPatch, limits: &Limits) -> Result<Self, Invalid> {
        let next = FunctionConfig {
            env: patch.env.unwrap_or_else(|| self.env.clone()),
            memory_mb: patch.memory_mb.unwrap_or(self.memory_mb),
            timeout_ms: patch.timeout_ms.unwrap_or(self.timeout_ms),
            description: patch.description.unwrap_or_else(|| self.description.clone()),
            outbound: patch.outbound.unwrap_or_else(|| self.outbound.clone()),
            config: patch.config.unwrap_or_else(|| self.config.clone()),
            lambda: {
                let mut fields = self.lambda.clone();
                fields.extend(patch.lambda.unwrap_or_default());
                fields
            },
        };
        next.validate(limits)?;
        Ok(next)
    }

    pub fn validate(&self, limits: &Limits) -> Result<(), Invalid> {
        if let Some(k) = self.lambda.keys().find(|k| !LAMBDA_FIELDS.contains(&k.as_str())) {
            return Err(Invalid::new(format!(
                "Unknown Lambda field '{}': only Handler, Role and Runtime are kept",
                super::names::truncate(k)
            )));
        }
        if let Some(k) = self.lambda.iter().find(|(_, v)| v.chars().count() > MAX_LAMBDA_FIELD_CHARS).map(|(k, _)| k) {
            return Err(Invalid::new(format!("{k} is too long: at most {MAX_LAMBDA_FIELD_CHARS} characters")));
        }
        if self.memory_mb < limits.min_memory_mb || self.memory_mb > limits.max_memory_mb {
            return Err(Invalid::new(format!(
                "memory_mb {} is out of range: it must be between {} and {}",
                self.memory_mb, limits.min_memory_mb, limits.max_memory_mb
            )));
        }
        if self.timeout_ms < limits.min_timeout_ms || self.timeout_ms > limits.max_timeout_ms {
            return Err(Invalid::new(format!(
                "timeout_ms {} is out of range: it must be between {} and {}",
                self.timeout_ms, limits.min_timeout_ms, limits.max_timeout_ms
            )));
        }
        if self.description.chars().count() > limits.max_description_chars {
            return Err(Invalid::new(format!(
                "description is too long: at most {} characters",
                limits.max_description_chars
            )));
        }
        if let Some(bad) = self.env.keys().find(|k| !is_valid_env_key(k)) {
            return Err(Invalid::new(format!(
                "Invalid environment variable name '{}': it must match [a-zA-Z]([a-zA-Z0-9_])+",
                super::names::truncate(bad)
            )));
        }
        // A guest reads its environment as C strings (`KEY=VALUE\0`): a NUL inside a value
        // would silently cut it. Other characters (newlines in a PEM key) are fine.
        if let Some((k, _)) = self.env.iter().find(|(_, v)| v.contains('\0')) {
            return Err(Invalid::new(format!(
                "Invalid value of environment variable {}: it contains a NUL character",
                super::names::truncate(k)
            )));
        }
        super::validate_text("description", &self.description)?;
        use super::outbound as allow_list;
        if self.outbound.len() > allow_list::MAX_ENTRIES {
            return Err(Invalid::new(format!(
                "outbound has {} entries: at most {} are allowed",
                self.outbound.len(),
                allow_list::MAX_ENTRIES
            )));
        }
        for entry in &self.outbound {
            allow_list::validate(entry).map_err(Invalid::new)?;
        }
        use super::appconfig;
        if self.config.len() > appconfig::MAX_FUNCTION_PROFILES {
            return Err(Invalid::new(format!(
                "config names {} profiles: at most {} are allowed",
                self.config.len(),
                appconfig::MAX_FUNCTION_PROFILES
            )));
        }
        for (i, profile) in self.config.iter().enumerate() {
            appconfig::parse_profile_ref(profile)?;
            if self.config[..i].contains(profile) {
                return Err(Invalid::new(format!("config names profile {profile} twice")));
            }
        }
        let reserved: Vec<&str> = self.env.keys().map(String::as_str).filter(|k| is_reserved(k)).collect();
        if !reserved.is_empty() {
            return Err(Invalid::new(format!(
                "Waygate was unable to configure your environment variables because the environment \
                 variables you have provided contains reserved keys that are currently not supported \
                 for modification. Reserved keys used in this request: {}",
                reserved.join(", ")
            )));
        }
        let size: usize = self.env.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > limits.max_env_bytes {
            return Err(Invalid::new(format!(
                "Waygate was unable to configure your environment variables because the environment \
                 variables you have provided exceeded the 4KB limit ({size} bytes of keys and values; \
                 the limit is {} bytes)",
                limits.max_env_bytes
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_env(pairs: &[(&str, &str)]) -> FunctionConfig {
        FunctionConfig {
            env: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..FunctionConfig::default()
        }
    }

    #[test]
    fn env_rules() {
        let l = Limits::default();
        assert!(with_env(&[("GREETING", "hi"), ("a1_b", "x")]).validate(&l).is_ok());
        assert!(with_env(&[("A", "x")]).validate(&l).is_err(), "single-char keys fail Lambda's pattern");
        assert!(with_env(&[("1A", "x")]).validate(&l).is_err());
        assert!(with_env(&[("A-B", "x")]).validate(&l).is_err());
        let e = with_env(&[("AWS_REGION", "x"), ("WAYGATE_STAGE", "y")]).validate(&l).unwrap_err();
        assert!(e.0.contains("Reserved keys used in this request: AWS_REGION, WAYGATE_STAGE"), "{e}");
        assert!(with_env(&[("BIG", &"x".repeat(4093))]).validate(&l).is_ok());
        assert!(with_env(&[("BIG", &"x".repeat(4094))]).validate(&l).is_err());
    }

    #[test]
    fn ranges() {
        let l = Limits::default();
        let base = FunctionConfig::default();
        let p =
            |m: Option<u32>, t: Option<u32>| FunctionConfigPatch { memory_mb: m, timeout_ms: t, ..Default::default() };
        assert!(base.apply(p(Some(0), None), &l).is_err());
        assert!(base.apply(p(Some(4097), None), &l).is_err());
        assert!(base.apply(p(Some(4096), None), &l).is_ok());
        assert!(base.apply(p(None, Some(9)), &l).is_err());
        assert!(base.apply(p(None, Some(900_001)), &l).is_err());
        assert_eq!(base.apply(p(None, Some(100)), &l).unwrap().timeout_ms, 100);
    }
}
