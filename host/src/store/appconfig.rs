//! Configuration per environment (AppConfig's model): applications, their environments and
//! profiles, profiles' immutable versions (content stored in the database with its blake3
//! hash), custom deployment strategies, and deployments. A deployment row is written when
//! it starts and once more when it ends (`COMPLETE` or `ROLLED_BACK`): its progress in
//! between is a function of `started_at_ms` and its frozen strategy.

use super::StoreResult;
use crate::model::appconfig::{Monitor, Strategy, Validator};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationRecord {
    pub name: String,
    pub description: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnvironmentRecord {
    pub application: String,
    pub name: String,
    pub monitors: Vec<Monitor>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRecord {
    pub application: String,
    pub name: String,
    pub validators: Vec<Validator>,
    pub created_at: String,
}

/// A version without its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigVersionMeta {
    pub application: String,
    pub profile: String,
    pub number: u32,
    /// The media type it was stored with (`application/json`, `application/yaml`, `text/plain`).
    pub content_type: String,
    /// blake3 of the content, hex.
    pub content_hash: String,
    pub size: u64,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigVersionRecord {
    pub meta: ConfigVersionMeta,
    pub content: Vec<u8>,
}

/// How a deployment ended, as stored; `Active` until then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentEnd {
    Active,
    Complete,
    RolledBack,
}

impl DeploymentEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentEnd::Active => "ACTIVE",
            DeploymentEnd::Complete => "COMPLETE",
            DeploymentEnd::RolledBack => "ROLLED_BACK",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACTIVE" => Some(DeploymentEnd::Active),
            "COMPLETE" => Some(DeploymentEnd::Complete),
            "ROLLED_BACK" => Some(DeploymentEnd::RolledBack),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigDeploymentRecord {
    pub application: String,
    pub environment: String,
    /// 1, 2, … per environment.
    pub number: u32,
    pub profile: String,
    pub version: u32,
    /// The strategy as it was when the deployment started.
    pub strategy: Strategy,
    pub description: String,
    /// Unix milliseconds.
    pub started_at_ms: i64,
    pub end: DeploymentEnd,
    pub ended_at_ms: Option<i64>,
    /// Why it was rolled back.
    pub reason: Option<String>,
}

/// What starting a deployment writes.
pub struct NewConfigDeployment<'a> {
    pub application: &'a str,
    pub environment: &'a str,
    pub profile: &'a str,
    pub version: u32,
    pub strategy: &'a Strategy,
    pub description: &'a str,
    pub started_at_ms: i64,
}

/// A gradual shift of an alias's traffic from its version to another (CodeDeploy's
/// traffic shifting), on the same schedule as configuration deployments.
#[derive(Debug, Clone, PartialEq)]
pub struct ShiftRecord {
    pub function: String,
    pub alias: String,
    /// 1, 2, … per alias.
    pub number: u32,
    pub from_version: u32,
    pub to_version: u32,
    pub strategy: Strategy,
    /// Rules over the new version's invocations; one that trips rolls the shift back.
    pub monitors: Vec<Monitor>,
    pub started_at_ms: i64,
    pub end: DeploymentEnd,
    pub ended_at_ms: Option<i64>,
    pub reason: Option<String>,
}

pub trait ConfigStore {
    /// `false`: the name is taken.
    fn insert_application(&self, name: &str, description: &str) -> StoreResult<bool>;
    fn list_applications(&self) -> StoreResult<Vec<ApplicationRecord>>;
    /// Removes it with its environments, profiles, versions and deployments.
    fn delete_application(&self, name: &str) -> StoreResult<bool>;

    fn insert_environment(&self, application: &str, name: &str, monitors: &[Monitor]) -> StoreResult<bool>;
    /// One application's environments; every application's with `None`.
    fn list_environments(&self, application: Option<&str>) -> StoreResult<Vec<EnvironmentRecord>>;
    fn delete_environment(&self, application: &str, name: &str) -> StoreResult<bool>;
    /// Replaces an environment's monitors; `false` if there is no such environment.
    fn set_environment_monitors(&self, application: &str, name: &str, monitors: &[Monitor]) -> StoreResult<bool>;

    fn insert_profile(&self, application: &str, name: &str, validators: &[Validator]) -> StoreResult<bool>;
    fn list_profiles(&self, application: &str) -> StoreResult<Vec<ProfileRecord>>;
    fn delete_profile(&self, application: &str, name: &str) -> StoreResult<bool>;

    /// Stores a new version with the profile's next number and returns it.
    fn insert_config_version(
        &self,
        application: &str,
        profile: &str,
        content_type: &str,
        content: &[u8],
        content_hash: &str,
    ) -> StoreResult<u32>;
    /// Newest first.
    fn list_config_versions(&self, application: &str, profile: &str) -> StoreResult<Vec<ConfigVersionMeta>>;
    fn get_config_version(
        &self,
        application: &str,
        profile: &str,
        number: u32,
    ) -> StoreResult<Option<ConfigVersionRecord>>;
    fn delete_config_version(&self, application: &str, profile: &str, number: u32) -> StoreResult<bool>;

    /// Custom strategies only (the predefined ones are not stored).
    fn insert_strategy(&self, strategy: &Strategy) -> StoreResult<bool>;
    fn list_strategies(&self) -> StoreResult<Vec<Strategy>>;
    fn delete_strategy(&self, name: &str) -> StoreResult<bool>;

    /// Starts a deployment with the environment's next number and returns it.
    fn insert_config_deployment(&self, d: &NewConfigDeployment<'_>) -> StoreResult<u32>;
    /// Every deployment of `application` (all applications: `None`), of one environment
    /// if given; oldest first.
    fn list_config_deployments(
        &self,
        application: Option<&str>,
        environment: Option<&str>,
    ) -> StoreResult<Vec<ConfigDeploymentRecord>>;
    /// Starts an alias shift with the alias's next number and returns it.
    fn insert_shift(&self, shift: &ShiftRecord) -> StoreResult<u32>;
    /// Every shift of `function`'s aliases (all functions: `None`), oldest first.
    fn list_shifts(&self, function: Option<&str>) -> StoreResult<Vec<ShiftRecord>>;
    /// Ends an active shift; `false` if it is not active.
    fn end_shift(
        &self,
        function: &str,
        alias: &str,
        number: u32,
        end: DeploymentEnd,
        ended_at_ms: i64,
        reason: Option<&str>,
    ) -> StoreResult<bool>;
    /// Forgets an alias's shifts (the alias is being deleted).
    fn delete_shifts(&self, function: &str, alias: &str) -> StoreResult<()>;

    /// Ends an active deployment; `false` if it is not active (already ended).
    fn end_config_deployment(
        &self,
        application: &str,
        environment: &str,
        number: u32,
        end: DeploymentEnd,
        ended_at_ms: i64,
        reason: Option<&str>,
    ) -> StoreResult<bool>;
}

/// The window key under which a version's invocations are counted for an alias shift's
/// monitors: `#N` (environment names can't hold `#`, so it never names an environment).
pub fn version_window_key(version: u32) -> String {
    format!("#{version}")
}

/// What one environment serves of one profile: the version of its newest completed
/// deployment (`settled`), and the deployment rolling out now, if any, with its version.
#[derive(Debug, Clone)]
pub struct DeployedProfile {
    pub application: String,
    pub environment: String,
    pub profile: String,
    pub settled: Option<ConfigVersionRecord>,
    pub rollout: Option<(ConfigDeploymentRecord, ConfigVersionRecord)>,
}

/// Every (application, environment, profile) that has a completed or an active
/// deployment, with the contents the data plane serves.
pub fn load_deployed(tx: &dyn ConfigStore) -> StoreResult<Vec<DeployedProfile>> {
    use std::collections::BTreeMap;
    /// (application, environment, profile) → (newest completed version, active deployment).
    type Serving = (Option<u32>, Option<ConfigDeploymentRecord>);
    let mut by_profile: BTreeMap<(String, String, String), Serving> = BTreeMap::new();
    // Oldest first: a later completed deployment replaces an earlier one.
    for d in tx.list_config_deployments(None, None)? {
        let entry = by_profile.entry((d.application.clone(), d.environment.clone(), d.profile.clone())).or_default();
        match d.end {
            DeploymentEnd::Complete => entry.0 = Some(d.version),
            DeploymentEnd::Active => entry.1 = Some(d),
            DeploymentEnd::RolledBack => {}
        }
    }
    let mut out = Vec::with_capacity(by_profile.len());
    for ((application, environment, profile), (settled, active)) in by_profile {
        let settled = match settled {
            Some(n) => tx.get_config_version(&application, &profile, n)?,
            None => None,
        };
        let rollout = match active {
            Some(d) => tx.get_config_version(&application, &profile, d.version)?.map(|v| (d, v)),
            None => None,
        };
        if settled.is_some() || rollout.is_some() {
            out.push(DeployedProfile { application, environment, profile, settled, rollout });
        }
    }
    Ok(out)
}
