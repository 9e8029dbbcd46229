//! The server's current state, read through the public management API (so a key sees
//! what its policy lets it read, and nothing else): the listings of functions, APIs and
//! keys (paged, in bulk), then the detail of the resources in scope — versions, aliases,
//! permissions, routes, stages and the routes each stage serves — fetched by
//! [`FETCH_THREADS`] at once.

use super::desired::Desired;
use crate::client::Client;
use crate::enc;
use anyhow::{anyhow, Context};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use waygate::model::api::Integration;
use waygate::model::policy::Policy;
use waygate::model::stage::{CacheSettings, CapacitySettings, ThrottleSettings};
use waygate::model::FunctionConfig;

/// Requests in flight while reading the state (the server answers reads in parallel).
pub const FETCH_THREADS: usize = 8;

#[derive(Debug, Default)]
pub struct Current {
    /// Every function the listing showed, with its `$LATEST`.
    pub functions: BTreeMap<String, CFunction>,
    /// APIs by name (a name held by two APIs is an error when the plan needs it).
    pub apis: BTreeMap<String, Vec<CApi>>,
    /// `None` when keys were out of scope.
    pub keys: Option<BTreeMap<String, Policy>>,
    /// Secret names per environment, or why they could not be listed.
    pub secrets: BTreeMap<String, Result<BTreeSet<String>, String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CFunction {
    pub name: String,
    pub code_hash: Option<String>,
    pub config: FunctionConfig,
    pub reserved_concurrency: Option<u32>,
    /// Filled for the functions in scope.
    #[serde(skip)]
    pub detail: Option<FunctionDetail>,
}

#[derive(Debug, Clone, Default)]
pub struct FunctionDetail {
    pub versions: BTreeMap<u32, CVersion>,
    pub aliases: BTreeMap<String, CAlias>,
    pub permissions: Vec<CPermission>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CVersion {
    pub version: String,
    pub code_hash: String,
    pub config: FunctionConfig,
    pub description: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CAlias {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub routing: BTreeMap<String, f64>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CPermission {
    pub statement_id: String,
    pub qualifier: Option<String>,
    pub principal: String,
    pub source: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CApi {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(skip)]
    pub detail: Option<ApiDetail>,
}

#[derive(Debug, Clone, Default)]
pub struct ApiDetail {
    pub routes: Vec<CRoute>,
    pub stages: BTreeMap<String, CStage>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct CRoute {
    pub id: String,
    pub method: String,
    pub path: String,
    pub integration: Integration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CStage {
    pub name: String,
    pub deployment_id: String,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub description: String,
    pub secret_environment: Option<String>,
    pub environment: String,
    pub cache: CacheSettings,
    pub throttle: ThrottleSettings,
    pub capacity: CapacitySettings,
    #[serde(default)]
    pub canary: Option<Value>,
    /// The routes its deployment serves.
    #[serde(skip)]
    pub deployed: Vec<CRoute>,
}

/// What to read in detail.
pub struct Scope<'a> {
    /// Everything is compared (prune, export): what the file lacks is listed too.
    pub all: bool,
    /// Read the detail of everything (export); else only of what `desired` names (what
    /// prune deletes goes whole, so its detail isn't needed).
    pub detail_all: bool,
    pub desired: Option<&'a Desired>,
    /// Only these functions / APIs (export's filters), when set.
    pub only_functions: Option<BTreeSet<String>>,
    pub only_apis: Option<BTreeSet<String>>,
    /// Read keys (they need `key:Manage`).
    pub keys: bool,
    /// Stage filter (`--stage`): other stages are neither read nor compared.
    pub stage: Option<String>,
}

impl Scope<'_> {
    fn function(&self, name: &str) -> bool {
        if let Some(only) = &self.only_functions {
            return only.contains(name);
        }
        self.detail_all || self.desired.is_some_and(|d| d.functions.contains_key(name))
    }
    fn api(&self, api: &CApi) -> bool {
        if let Some(only) = &self.only_apis {
            return only.contains(&api.name) || only.contains(&api.id);
        }
        self.detail_all || self.desired.is_some_and(|d| d.apis.contains_key(&api.name))
    }
    pub fn stage(&self, name: &str) -> bool {
        self.stage.as_deref().is_none_or(|s| s == name)
    }
}

/// Runs `f` over `items`, [`FETCH_THREADS`] at a time; the results in order, or the first
/// error.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> anyhow::Result<R> + Sync) -> anyhow::Result<Vec<R>> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<anyhow::Result<R>>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..FETCH_THREADS.min(items.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                let failed = r.is_err();
                if let Ok(mut o) = out.lock() {
                    o[i] = Some(r);
                }
                if failed {
                    // Let the others stop early: nothing after this index is needed.
                    next.store(items.len(), Ordering::Relaxed);
                }
            });
        }
    });
    let out = out.into_inner().map_err(|_| anyhow!("a fetch thread panicked"))?;
    let mut results = Vec::with_capacity(items.len());
    for r in out {
        match r {
            Some(r) => results.push(r?),
            None => return Err(anyhow!("the state could not be read completely")),
        }
    }
    Ok(results)
}

fn items<T: for<'de> Deserialize<'de>>(client: &Client, path: &str, field: &str) -> anyhow::Result<Vec<T>> {
    let mut all = client.list_all(path, field)?;
    let list = all.get_mut(field).map(Value::take).unwrap_or(Value::Array(Vec::new()));
    serde_json::from_value(list).with_context(|| format!("unexpected reply to GET {path}"))
}

/// Reads the state `scope` asks for.
pub fn fetch(client: &Client, scope: &Scope) -> anyhow::Result<Current> {
    let mut current = Current::default();
    let functions: Vec<CFunction> = items(client, "/v1/functions", "functions")?;
    let wanted: Vec<CFunction> = functions.iter().filter(|f| scope.function(&f.name)).cloned().collect();
    let details = par_map(&wanted, |f| function_detail(client, scope, f))?;
    let mut details: BTreeMap<String, FunctionDetail> = wanted.iter().map(|w| w.name.clone()).zip(details).collect();
    for mut f in functions {
        f.detail = details.remove(&f.name);
        current.functions.insert(f.name.clone(), f);
    }

    let apis: Vec<CApi> = items(client, "/v1/apis", "apis")?;
    let wanted: Vec<CApi> = apis.iter().filter(|a| scope.api(a)).cloned().collect();
    let details = par_map(&wanted, |a| api_detail(client, scope, a))?;
    let mut details: BTreeMap<String, ApiDetail> = wanted.iter().map(|w| w.id.clone()).zip(details).collect();
    for mut a in apis {
        a.detail = details.remove(&a.id);
        current.apis.entry(a.name.clone()).or_default().push(a);
    }

    let file_keys = scope.desired.is_some_and(|d| !d.keys.is_empty());
    if scope.keys || file_keys {
        #[derive(Deserialize)]
        struct Key {
            name: String,
            policy: Policy,
        }
        let keys: Vec<Key> = items(client, "/v1/keys", "keys")?;
        current.keys = Some(keys.into_iter().map(|k| (k.name, k.policy)).collect());
    }

    if let Some(d) = scope.desired {
        let envs: BTreeSet<String> = d
            .apis
            .values()
            .flat_map(|a| a.stages.iter().filter(|(n, _)| scope.stage(n)).map(|(n, s)| s.environment_or(n).to_string()))
            .collect();
        let any_refs = d.functions.values().any(|f| {
            !super::desired::secret_refs(&f.config).is_empty()
                || f.versions.iter().any(|v| !super::desired::secret_refs(&v.config).is_empty())
        });
        if any_refs {
            let envs: Vec<String> = envs.into_iter().collect();
            let listed = par_map(&envs, |env| {
                #[derive(Deserialize)]
                struct Secret {
                    name: String,
                }
                Ok(match items::<Secret>(client, &format!("/v1/secrets/{}", enc(env)), "secrets") {
                    Ok(s) => Ok(s.into_iter().map(|s| s.name).collect()),
                    Err(e) => Err(format!("{e:#}")),
                })
            })?;
            current.secrets = envs.into_iter().zip(listed).collect();
        }
    }
    Ok(current)
}

fn function_detail(client: &Client, scope: &Scope, f: &CFunction) -> anyhow::Result<FunctionDetail> {
    let name = enc(&f.name);
    let versions: Vec<CVersion> = items(client, &format!("/v1/functions/{name}/versions"), "versions")?;
    let aliases: Vec<CAlias> = items(client, &format!("/v1/functions/{name}/aliases"), "aliases")?;
    let mut detail = FunctionDetail::default();
    for v in versions {
        if let Ok(n) = v.version.parse::<u32>() {
            detail.versions.insert(n, v);
        }
    }
    detail.aliases = aliases.into_iter().map(|a| (a.name.clone(), a)).collect();
    // Statements are kept per qualifier: the function's own, each alias's, and each
    // version's (every version only when reading everything; else those the file names).
    let mut qualifiers: Vec<Option<String>> = vec![None];
    qualifiers.extend(detail.aliases.keys().cloned().map(Some));
    let named: BTreeSet<String> = scope
        .desired
        .and_then(|d| d.functions.get(&f.name))
        .map(|d| d.permissions.iter().filter_map(|p| p.qualifier.clone()).collect())
        .unwrap_or_default();
    for n in detail.versions.keys() {
        if scope.detail_all || named.contains(&n.to_string()) {
            qualifiers.push(Some(n.to_string()));
        }
    }
    for q in qualifiers {
        let path = match &q {
            None => format!("/v1/functions/{name}/permissions"),
            Some(q) => format!("/v1/functions/{name}/permissions?qualifier={}", enc(q)),
        };
        let reply = client.json(Method::GET, &path, None)?;
        let statements: Vec<CPermission> =
            serde_json::from_value(reply.get("statements").cloned().unwrap_or(Value::Array(Vec::new())))
                .with_context(|| format!("unexpected reply to GET {path}"))?;
        detail.permissions.extend(statements);
    }
    Ok(detail)
}

fn api_detail(client: &Client, scope: &Scope, a: &CApi) -> anyhow::Result<ApiDetail> {
    let id = enc(&a.id);
    let routes: Vec<CRoute> = items(client, &format!("/v1/apis/{id}/routes"), "routes")?;
    let stages: Vec<CStage> = items(client, &format!("/v1/apis/{id}/stages"), "stages")?;
    let mut detail = ApiDetail { routes, stages: BTreeMap::new() };
    let mut deployed: BTreeMap<String, Vec<CRoute>> = BTreeMap::new();
    for mut s in stages.into_iter().filter(|s| scope.stage(&s.name)) {
        if !deployed.contains_key(&s.deployment_id) {
            let d = client.json(Method::GET, &format!("/v1/apis/{id}/deployments/{}", enc(&s.deployment_id)), None)?;
            let routes: Vec<CRoute> =
                serde_json::from_value(d.get("routes").cloned().unwrap_or(Value::Array(Vec::new())))
                    .context("unexpected reply to GET …/deployments")?;
            deployed.insert(s.deployment_id.clone(), routes);
        }
        s.deployed = deployed.get(&s.deployment_id).cloned().unwrap_or_default();
        detail.stages.insert(s.name.clone(), s);
    }
    Ok(detail)
}
