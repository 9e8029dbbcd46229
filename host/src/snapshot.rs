//! The immutable routing state the data plane reads. The control plane builds it from the
//! store after every committed change and swaps it in atomically (`arc-swap`); a request
//! loads the current `Arc` once and never touches the database.
//!
//! **Incremental.** A commit's [`Changes`] say which functions and which other parts it
//! touched; [`Snapshot::update`] reads only those and shares everything else with the
//! previous snapshot (each function is an `Arc`, each other part one `Arc`), so a publish
//! costs one function's rows whatever the installation's size. Anything it can't place —
//! an unknown table, an alias shift, a gap in the change sequence (another host's commit,
//! a write outside `commit`) — falls back to [`Snapshot::build`], the full build, which
//! is the reference: `tests/all/snapshot.rs` checks the two agree over random changes.

use crate::live::concurrency::Reserved;
use crate::live::LiveState;
use crate::model::{AliasRouting, CodeHash, FunctionConfig, FunctionName, GuestKind, VersionId};
use crate::runtime::{CodeRef, CodeUnavailable};
use crate::store::changes::{Changes, Part};
use crate::store::{FunctionState, RoutingState, StoreResult, Tx};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Environment values (name → value) per environment.
pub type Values = HashMap<String, BTreeMap<String, String>>;

/// Every function's snapshot, by name.
pub type Functions = HashMap<FunctionName, Arc<FunctionSnapshot>>;

#[derive(Default)]
pub struct Snapshot {
    /// The store's change sequence this snapshot was built from.
    pub change_seq: u64,
    pub functions: Arc<Functions>,
    /// Stages by API and name, with their deployments' routes and resolved integrations.
    pub gateway: Arc<crate::gateway::stage::GatewaySnapshot>,
    /// API keys and policies, for the data plane's `access.allows(token, action, resource)`.
    pub access: Arc<crate::access::AccessSnapshot>,
    /// Decrypted secrets per environment.
    pub secrets: Arc<crate::secrets::SecretsSnapshot>,
    /// Environment values (name → value) per environment: what a version's outbound
    /// allow-list `${environment.NAME}` placeholders are filled from.
    pub values: Arc<Values>,
    /// Deployed configuration per environment and profile, with rollouts in progress.
    pub config: Arc<crate::configuration::ConfigSnapshot>,
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
pub struct CodeHealth<'a> {
    /// Artifact hash and guest kind per code hash, for this engine's fingerprint.
    pub artifacts: HashMap<CodeHash, (String, GuestKind)>,
    /// Blobs whose bytes no longer match their hash.
    pub corrupt_blobs: &'a HashSet<CodeHash>,
}

impl CodeHealth<'_> {
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
            corrupt_blobs: inputs.corrupt_blobs,
        };
        let mut counters = inputs.live.in_flight.renew();
        let mut shifts = shifts_by_alias(state.shifts);
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
            functions: Arc::new(functions),
            gateway: Arc::new(gateway(&state.gateway, inputs)),
            access: Arc::new(access(state.keys, inputs)),
            secrets: Arc::new(crate::secrets::SecretsSnapshot::build(state.secrets, inputs.master_key)),
            values: Arc::new(values(state.values)),
            config: Arc::new(crate::configuration::ConfigSnapshot::build(
                state.config,
                state.watched,
                &inputs.live.windows,
            )),
        }
    }

    /// `prev` with one commit's `changes` applied, read from `tx`, which must see exactly
    /// the state after that commit (change sequence `prev.change_seq + 1`). `None` when
    /// the changes can't be applied this way: the caller then builds in full.
    pub fn update(
        prev: &Snapshot,
        changes: &Changes,
        tx: &dyn Tx,
        inputs: &Inputs<'_>,
        fingerprint: &str,
    ) -> StoreResult<Option<Snapshot>> {
        let change_seq = tx.change_seq()?;
        if changes.unknown || changes.parts.contains(&Part::Shifts) || change_seq != prev.change_seq + 1 {
            return Ok(None);
        }
        let Some(functions) = update_functions(prev, changes, tx, inputs, fingerprint)? else { return Ok(None) };
        let part = |p: Part| changes.parts.contains(&p);
        Ok(Some(Snapshot {
            change_seq,
            functions,
            gateway: match part(Part::Gateway) {
                true => Arc::new(gateway(&tx.load_gateway()?, inputs)),
                false if changes.apis.is_empty() => prev.gateway.clone(),
                false => {
                    let state = tx.load_gateway_apis(&changes.apis)?;
                    let live = inputs.live;
                    let handles = (&live.buckets, &live.metrics, &live.usage);
                    Arc::new(crate::gateway::stage::GatewaySnapshot::update(
                        &prev.gateway,
                        &changes.apis,
                        &state,
                        handles,
                    ))
                }
            },
            access: match part(Part::Access) {
                true => Arc::new(access(tx.list_keys()?, inputs)),
                false => prev.access.clone(),
            },
            secrets: match part(Part::Secrets) {
                true => Arc::new(crate::secrets::SecretsSnapshot::build(tx.load_secrets()?, inputs.master_key)),
                false => prev.secrets.clone(),
            },
            values: match part(Part::Values) {
                true => Arc::new(values(tx.load_values()?)),
                false => prev.values.clone(),
            },
            config: match part(Part::Config) {
                true => {
                    let deployed = crate::store::appconfig::load_deployed(tx)?;
                    let watched = crate::store::load_watched(tx, &crate::store::active_shifts(tx)?)?;
                    Arc::new(crate::configuration::ConfigSnapshot::build(deployed, watched, &inputs.live.windows))
                }
                false => prev.config.clone(),
            },
        }))
    }
}

impl Snapshot {
    /// A canonical text of what this snapshot serves (functions in full; stages, keys,
    /// secrets, values and configuration by what decides a request), for comparing two
    /// builds of the same state: an incremental update and a full build must describe
    /// alike (`tests/all/snapshot.rs`).
    pub fn describe(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let mut names: Vec<_> = self.functions.keys().collect();
        names.sort();
        for name in names {
            let f = &self.functions[name];
            let _ = writeln!(out, "function {name} reserved={:?}", f.reserved.as_ref().map(|r| r.limit));
            for v in f.latest.iter().chain({
                let mut vs: Vec<_> = f.versions.values().collect();
                vs.sort_by_key(|v| v.version.to_string());
                vs
            }) {
                let _ = writeln!(out, "  {} {:?} {:?}", v.version, v.code, v.config);
            }
            let aliases: BTreeMap<_, _> = f.aliases.iter().collect();
            for (a, snap) in aliases {
                let shift = snap.shift.as_ref().map(|x| (x.to, x.started_at_ms));
                let _ = writeln!(out, "  alias {a} {} {:?} {:?}", snap.primary, snap.routing, shift);
            }
        }
        out.push_str(&self.gateway.describe());
        out.push_str(&self.access.describe());
        out.push_str(&self.secrets.describe());
        let values: BTreeMap<_, _> = self.values.iter().collect();
        let _ = writeln!(out, "values {values:?}");
        out.push_str(&self.config.describe());
        out
    }
}

fn gateway(state: &crate::store::GatewayState, inputs: &Inputs<'_>) -> crate::gateway::stage::GatewaySnapshot {
    let live = inputs.live;
    crate::gateway::stage::GatewaySnapshot::build(state, &live.buckets, &live.metrics, &live.usage)
}

fn access(keys: Vec<crate::store::KeyRecord>, inputs: &Inputs<'_>) -> crate::access::AccessSnapshot {
    crate::access::AccessSnapshot::build(keys, inputs.admin_token, Some(inputs.master_key))
}

fn values(rows: Vec<crate::store::ValueRecord>) -> Values {
    rows.into_iter().fold(HashMap::new(), |mut m, v| {
        m.entry(v.environment).or_default().insert(v.name, v.value);
        m
    })
}

/// The functions map with the changed functions read again (and those whose code got a
/// new artifact record); the others are the previous snapshot's, shared. `None`: a
/// changed name that isn't a function name (the caller builds in full).
fn update_functions(
    prev: &Snapshot,
    changes: &Changes,
    tx: &dyn Tx,
    inputs: &Inputs<'_>,
    fingerprint: &str,
) -> StoreResult<Option<Arc<Functions>>> {
    let mut dirty = changes.functions.clone();
    if !changes.artifacts.is_empty() {
        let hashes: HashSet<CodeHash> = changes.artifacts.iter().filter_map(|h| CodeHash::parse(h).ok()).collect();
        if hashes.len() != changes.artifacts.len() {
            return Ok(None);
        }
        dirty.extend(prev.functions.values().filter(|f| f.uses_any(&hashes)).map(|f| f.name.to_string()));
    }
    if dirty.is_empty() {
        return Ok(Some(prev.functions.clone()));
    }
    let mut functions = (*prev.functions).clone();
    let mut counters = inputs.live.in_flight.renew_keys(dirty.iter().cloned());
    for name in &dirty {
        let Ok(name) = FunctionName::parse(name) else { return Ok(None) };
        let Some(state) = tx.load_function(&name)? else {
            functions.remove(&name);
            continue;
        };
        let mut artifacts = HashMap::new();
        for hash in state.code_hashes() {
            if let Some(a) = tx.find_artifact(&hash, fingerprint)? {
                artifacts.insert(hash, (a.artifact_hash, a.kind));
            }
        }
        let health = CodeHealth { artifacts, corrupt_blobs: inputs.corrupt_blobs };
        let mut shifts = shifts_by_alias(crate::store::active_shifts_of(tx, name.as_str())?);
        let reserved = state.function.reserved_concurrency.map(|n| counters.reserved(name.as_str(), n));
        functions.insert(name, Arc::new(function_snapshot(state, &health, reserved, &mut shifts)));
    }
    Ok(Some(Arc::new(functions)))
}

fn shifts_by_alias(rows: Vec<crate::store::appconfig::ShiftRecord>) -> HashMap<(String, String), ShiftSnapshot> {
    rows.into_iter()
        .map(|x| {
            let shift =
                ShiftSnapshot { to: x.to_version, started_at_ms: x.started_at_ms, strategy: Arc::new(x.strategy) };
            ((x.function, x.alias), shift)
        })
        .collect()
}

impl FunctionSnapshot {
    /// Whether `$LATEST` or a version runs one of `hashes`.
    fn uses_any(&self, hashes: &HashSet<CodeHash>) -> bool {
        self.latest.iter().chain(self.versions.values()).any(|v| hashes.contains(&v.code.code_hash))
    }
}

fn function_snapshot(
    s: FunctionState,
    health: &CodeHealth<'_>,
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
