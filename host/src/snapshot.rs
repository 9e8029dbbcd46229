//! The immutable routing state the data plane reads. The control plane rebuilds it from
//! the store after every committed change and swaps it in atomically (`arc-swap`); a
//! request loads the current `Arc` once and never touches the database.

use crate::live::concurrency::Reserved;
use crate::live::LiveState;
use crate::model::{AliasRouting, CodeHash, FunctionConfig, FunctionName, GuestKind, VersionId};
use crate::runtime::{CodeRef, CodeUnavailable};
use crate::store::{FunctionState, RoutingState};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

#[derive(Default)]
pub struct Snapshot {
    /// The store's change sequence this snapshot was built from.
    pub change_seq: u64,
    pub functions: HashMap<FunctionName, Arc<FunctionSnapshot>>,
    /// Stages by API and name, with their deployments' routes and resolved integrations.
    pub gateway: crate::gateway::stage::GatewaySnapshot,
    /// API keys and policies, for the data plane's `access.allows(token, action, resource)`.
    pub access: crate::access::AccessSnapshot,
    /// Decrypted secrets per environment.
    pub secrets: crate::secrets::SecretsSnapshot,
    /// Environment values (name → value) per environment: what a version's outbound
    /// allow-list `${environment.NAME}` placeholders are filled from.
    pub values: HashMap<String, std::collections::BTreeMap<String, String>>,
    /// Deployed configuration per environment and profile, with rollouts in progress.
    pub config: crate::configuration::ConfigSnapshot,
}

pub struct FunctionSnapshot {
    pub name: FunctionName,
    /// `None` until code is uploaded.
    pub latest: Option<Arc<VersionSnapshot>>,
    pub versions: HashMap<u32, Arc<VersionSnapshot>>,
    pub aliases: HashMap<String, AliasSnapshot>,
    /// Reserved concurrency, with the function's live in-flight counter.
    pub reserved: Option<Reserved>,
}

/// What one version runs: code and configuration, frozen.
pub struct VersionSnapshot {
    pub version: VersionId,
    pub code: CodeRef,
    pub config: FunctionConfig,
}

#[derive(Debug, Clone)]
pub struct AliasSnapshot {
    pub primary: VersionId,
    pub routing: Option<AliasRouting>,
    /// A gradual shift in progress: its new version gets the strategy's percentage of the
    /// traffic at the time of each request ([`crate::invoke::alias::pick`]).
    pub shift: Option<ShiftSnapshot>,
}

#[derive(Debug, Clone)]
pub struct ShiftSnapshot {
    pub to: u32,
    pub started_at_ms: i64,
    pub strategy: Arc<crate::model::appconfig::Strategy>,
}

/// Why code can't run, known before any request: recorded in the snapshot so every
/// invocation of the affected versions fails fast with the reason.
pub struct CodeHealth {
    /// Artifact hash and guest kind per code hash, for this engine's fingerprint.
    pub artifacts: HashMap<CodeHash, (String, GuestKind)>,
    /// Blobs whose bytes no longer match their hash.
    pub corrupt_blobs: HashSet<CodeHash>,
}

impl CodeHealth {
    fn code_ref(&self, hash: CodeHash) -> CodeRef {
        let recorded = self.artifacts.get(&hash);
        // Code without an artifact can't run whatever its kind; the default stands in.
        let kind = recorded.map_or(GuestKind::default(), |(_, k)| *k);
        let artifact = if self.corrupt_blobs.contains(&hash) {
            Err(CodeUnavailable::CorruptBlob { hash })
        } else {
            recorded.map(|(a, _)| a.clone()).ok_or(CodeUnavailable::NoArtifact { hash })
        };
        CodeRef { code_hash: hash, kind, artifact }
    }
}

/// What the snapshot needs besides the store's state: held by the platform.
pub struct Inputs<'a> {
    /// Blobs whose bytes no longer match their hash.
    pub corrupt_blobs: &'a HashSet<CodeHash>,
    pub live: &'a LiveState,
    pub admin_token: &'a str,
    pub master_key: &'a crate::secrets::MasterKey,
}

impl Snapshot {
    /// Builds the whole routing state in one pass from one consistent read of the store.
    pub fn build(state: RoutingState, inputs: &Inputs<'_>) -> Snapshot {
        let health = CodeHealth {
            artifacts: state.artifacts.into_iter().map(|a| (a.code_hash, (a.artifact_hash, a.kind))).collect(),
            corrupt_blobs: inputs.corrupt_blobs.clone(),
        };
        let mut counters = inputs.live.in_flight.renew();
        let mut shifts: HashMap<(String, String), ShiftSnapshot> = state
            .shifts
            .into_iter()
            .map(|x| {
                let shift =
                    ShiftSnapshot { to: x.to_version, started_at_ms: x.started_at_ms, strategy: Arc::new(x.strategy) };
                ((x.function, x.alias), shift)
            })
            .collect();
        let functions = state
            .functions
            .into_iter()
            .map(|s| {
                let reserved = s.function.reserved_concurrency.map(|n| counters.reserved(s.function.name.as_str(), n));
                (s.function.name.clone(), Arc::new(function_snapshot(s, &health, reserved, &mut shifts)))
            })
            .collect();
        drop(counters);
        Snapshot {
            change_seq: state.change_seq,
            functions,
            gateway: crate::gateway::stage::GatewaySnapshot::build(
                &state.gateway,
                &inputs.live.buckets,
                &inputs.live.metrics,
                &inputs.live.usage,
            ),
            access: crate::access::AccessSnapshot::build(state.keys, inputs.admin_token, Some(inputs.master_key)),
            secrets: crate::secrets::SecretsSnapshot::build(state.secrets, inputs.master_key),
            values: state.values.into_iter().fold(HashMap::new(), |mut m, v| {
                m.entry(v.environment).or_default().insert(v.name, v.value);
                m
            }),
            config: crate::configuration::ConfigSnapshot::build(state.config, state.watched, &inputs.live.windows),
        }
    }
}

fn function_snapshot(
    s: FunctionState,
    health: &CodeHealth,
    reserved: Option<Reserved>,
    shifts: &mut HashMap<(String, String), ShiftSnapshot>,
) -> FunctionSnapshot {
    let latest = s.function.code_hash.map(|h| {
        Arc::new(VersionSnapshot {
            version: VersionId::Latest,
            code: health.code_ref(h),
            config: s.function.config.clone(),
        })
    });
    let versions = s
        .versions
        .into_iter()
        .map(|v| {
            let snap = VersionSnapshot {
                version: VersionId::Number(v.version),
                code: health.code_ref(v.code_hash),
                config: v.config,
            };
            (v.version, Arc::new(snap))
        })
        .collect();
    let aliases = s
        .aliases
        .into_iter()
        .map(|a| {
            let shift = shifts.remove(&(s.function.name.to_string(), a.name.to_string()));
            (a.name.to_string(), AliasSnapshot { primary: a.version, routing: a.routing, shift })
        })
        .collect();
    FunctionSnapshot { name: s.function.name, latest, versions, aliases, reserved }
}
