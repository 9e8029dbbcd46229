//! Stages: named environments of an API (dev, test, prod), each pinned to a deployment
//! with its own variables, settings and invoke URL; their canaries (promote, remove) and
//! cache-invalidation keys. Changes apply at once (the snapshot is rebuilt on commit).
//!
//! The rules: a stage serves an existing deployment of its API; while it has a canary it
//! stays on its deployment (promote or remove the canary first); variables, canary,
//! cache, throttle and capacity settings are validated as a whole after each change.

use super::apis::api;
// `secret_environment` names an environment: the secrets' name rule.
use super::secrets::validate_name;
use super::{found, Error, Kind, Platform, Result};
use crate::model::api::{validate_variable_name, validate_variables, ApiId, StageName};
use crate::model::stage::{CacheSettings, CanaryPatch, CanarySettings, CapacitySettings, ThrottleSettings};
use crate::store::{now_rfc3339, StageRecord, Tx};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Stages' descriptions: at most this many characters (API Gateway's limit).
pub const MAX_DESCRIPTION_CHARS: usize = 1024;

/// A full replacement of a stage's deployment, variables and description (PUT); its
/// settings (canary, cache, throttle, invalidation key) are kept.
pub struct PutStage {
    pub deployment_id: String,
    pub variables: BTreeMap<String, String>,
    pub description: String,
    /// Whose secrets the stage's functions see; `None`: the stage's name.
    pub secret_environment: Option<String>,
}

/// A change to a stage; `variables` maps a name to a new value or `None` to remove it.
#[derive(Debug, Default, Clone)]
pub struct StagePatch {
    pub deployment_id: Option<String>,
    pub variables: BTreeMap<String, Option<String>>,
    pub description: Option<String>,
    /// `Some(None)` resets to the default (the stage's name).
    pub secret_environment: Option<Option<String>>,
    pub canary: Option<CanaryPatch>,
    pub cache: Option<CacheSettings>,
    pub throttle: Option<ThrottleSettings>,
    /// Replaces the stage's priority class and concurrency limit.
    pub capacity: Option<CapacitySettings>,
}

/// The stage, or `NotFound` (for the API first).
pub fn stage(tx: &dyn Tx, id: &ApiId, name: &StageName) -> Result<StageRecord> {
    api(tx, id)?;
    found(tx.find_stage(id, name)?, Kind::Stage, name.as_str())
}

fn deployment_exists(tx: &dyn Tx, id: &ApiId, deployment: &str) -> Result<()> {
    super::deployments::deployment(tx, id, deployment).map(drop)
}

/// API Gateway's rule: while a canary exists the stage stays on its deployment.
fn check_move(stage: &StageRecord, deployment_id: &str) -> Result<()> {
    match &stage.canary {
        Some(c) if stage.deployment_id != deployment_id => Err(Error::Conflict(format!(
            "Stage {} has a canary (deployment {}): promote or remove the canary before moving the stage to deployment {deployment_id}",
            stage.name, c.deployment_id
        ))),
        _ => Ok(()),
    }
}

/// The parts of a canary change that can be checked without the stage.
pub fn validate_canary_patch(c: &CanaryPatch) -> Result<()> {
    if let Some(p) = c.percent_traffic {
        crate::model::stage::validate_percent(p)?;
    }
    if let Some(o) = &c.stage_variable_overrides {
        validate_variables(o)?;
    }
    Ok(())
}

pub async fn put(p: &Arc<Platform>, id: ApiId, name: StageName, input: PutStage) -> Result<(StageRecord, bool)> {
    p.commit(move |tx| put_in(tx, &id, &name, input)).await
}

/// [`put`] inside a caller's transaction (a batch of changes, one commit).
/// Creates the stage; 409 when it exists (API Gateway's CreateStage).
pub async fn create(p: &Arc<Platform>, id: ApiId, name: StageName, input: PutStage) -> Result<StageRecord> {
    p.commit(move |tx| {
        api(tx, &id)?;
        if tx.find_stage(&id, &name)?.is_some() {
            return Err(Error::Conflict("Stage already exists".into()));
        }
        Ok(put_in(tx, &id, &name, input)?.0)
    })
    .await
}

pub fn put_in(tx: &dyn Tx, id: &ApiId, name: &StageName, input: PutStage) -> Result<(StageRecord, bool)> {
    validate_variables(&input.variables)?;
    super::check_description(&input.description, MAX_DESCRIPTION_CHARS)?;
    if let Some(e) = &input.secret_environment {
        validate_name("secret_environment", e)?;
    }
    api(tx, id)?;
    deployment_exists(tx, id, &input.deployment_id)?;
    let existing = tx.find_stage(id, name)?;
    let rec = match &existing {
        Some(s) => {
            check_move(s, &input.deployment_id)?;
            StageRecord {
                deployment_id: input.deployment_id,
                variables: input.variables,
                description: input.description,
                secret_environment: input.secret_environment,
                ..s.clone()
            }
        }
        None => StageRecord {
            api_id: id.clone(),
            name: name.clone(),
            deployment_id: input.deployment_id,
            variables: input.variables,
            description: input.description,
            canary: None,
            cache: Default::default(),
            throttle: Default::default(),
            capacity: Default::default(),
            invalidation_key_hash: None,
            created_at: now_rfc3339(),
            updated_at: String::new(),
            secret_environment: input.secret_environment,
        },
    };
    check_backend_variables(tx, &rec)?;
    tx.write_stage(&rec)?;
    Ok((stage(tx, id, name)?, existing.is_none()))
}

/// Applies `patch`. A new cache setting flushes the stage's cache: entries stored under
/// the old settings (key headers, TTL) are not reused.
pub async fn patch(p: &Arc<Platform>, id: ApiId, name: StageName, patch: StagePatch) -> Result<StageRecord> {
    for (k, v) in &patch.variables {
        validate_variable_name(k)?;
        if let Some(v) = v {
            validate_variables(&BTreeMap::from([(k.clone(), v.clone())]))?;
        }
    }
    if let Some(d) = &patch.description {
        super::check_description(d, MAX_DESCRIPTION_CHARS)?;
    }
    if let Some(Some(e)) = &patch.secret_environment {
        validate_name("secret_environment", e)?;
    }
    // Validated here too so that a bad body answers before the store is touched.
    if let Some(c) = &patch.cache {
        c.clone().validated()?;
    }
    if let Some(t) = &patch.throttle {
        t.clone().validated()?;
    }
    if let Some(c) = &patch.capacity {
        c.clone().validated()?;
    }
    if let Some(c) = &patch.canary {
        validate_canary_patch(c)?;
    }
    let new_cache = patch.cache.is_some();
    let rec = p.commit(move |tx| patch_in(tx, &id, &name, &patch)).await?;
    if new_cache {
        p.live.cache.flush_stage(rec.api_id.as_str(), rec.name.as_str());
    }
    Ok(rec)
}

pub(super) fn patch_in(tx: &dyn Tx, id: &ApiId, name: &StageName, patch: &StagePatch) -> Result<StageRecord> {
    let mut s = stage(tx, id, name)?;
    if let Some(c) = &patch.canary {
        let canary = CanarySettings::apply(s.canary.as_ref(), c)?;
        deployment_exists(tx, id, &canary.deployment_id)?;
        s.canary = Some(canary);
    }
    if let Some(d) = &patch.deployment_id {
        deployment_exists(tx, id, d)?;
        check_move(&s, d)?;
        s.deployment_id = d.clone();
    }
    for (k, v) in &patch.variables {
        match v {
            Some(v) => s.variables.insert(k.clone(), v.clone()),
            None => s.variables.remove(k),
        };
    }
    validate_variables(&s.variables)?;
    if let Some(d) = &patch.description {
        s.description = d.clone();
    }
    if let Some(e) = &patch.secret_environment {
        s.secret_environment = e.clone();
    }
    if let Some(c) = &patch.cache {
        s.cache = c.clone().validated()?;
        routes_exist(tx, &s, "cache", s.cache.routes.keys())?;
    }
    if let Some(t) = &patch.throttle {
        s.throttle = t.clone().validated()?;
        routes_exist(tx, &s, "throttle", s.throttle.routes.keys())?;
    }
    if let Some(c) = &patch.capacity {
        s.capacity = c.clone().validated()?;
    }
    check_backend_variables(tx, &s)?;
    tx.write_stage(&s)?;
    stage(tx, id, name)
}

/// A route override must name a route the stage serves (its deployment's, or its
/// canary's): one that names no route would be accepted and never apply.
fn routes_exist<'k>(tx: &dyn Tx, s: &StageRecord, setting: &str, keys: impl Iterator<Item = &'k String>) -> Result<()> {
    let mut served = std::collections::BTreeSet::new();
    let deployments = std::iter::once(&s.deployment_id).chain(s.canary.as_ref().map(|c| &c.deployment_id));
    for d in deployments {
        for r in super::deployments::deployment(tx, &s.api_id, d)?.routes {
            served.insert(crate::model::stage::route_key(r.method, &r.path));
        }
    }
    for key in keys {
        if !served.contains(key) {
            let known: Vec<&str> = served.iter().map(String::as_str).collect();
            return Err(Error::Invalid(format!(
                "Invalid {setting} route '{key}': stage {} serves no such route (its routes: {})",
                s.name,
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// Every stage variable an HTTP proxy integration URL of the stage's deployment (or its
/// canary's, with the canary's overrides) uses must be set: a backend URL is never left
/// to fail per request for a missing variable (unlike a function target, as API Gateway).
fn check_backend_variables(tx: &dyn Tx, s: &StageRecord) -> Result<()> {
    let sides = std::iter::once((&s.deployment_id, s.variables.clone(), ""))
        .chain(s.canary.as_ref().map(|c| (&c.deployment_id, c.variables(&s.variables), "canary ")));
    for (deployment, vars, side) in sides {
        for r in super::deployments::deployment(tx, &s.api_id, deployment)?.routes {
            let missing: Vec<String> =
                r.integration.stage_variables().into_iter().filter(|v| !vars.contains_key(v)).collect();
            if !missing.is_empty() {
                return Err(Error::Invalid(format!(
                    "Stage {}: the integration URL of {side}route {} {} uses stage variables that are not set: {}",
                    s.name,
                    r.method.as_str(),
                    r.path.as_str(),
                    missing.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// What would fail on a stage as it is served now (main side and canary): for each
/// function route, a target its variables can't resolve, a function or alias that does
/// not exist, or a target whose resource policy does not let this stage invoke it. Read
/// from the current snapshot, so it is exactly what the gateway will do; the management
/// API returns these as `warnings` with the stage (a canary that routes to a target its
/// stage can't invoke is accepted, as in API Gateway, but must not go unnoticed).
pub fn warnings(p: &Platform, api: &str, stage: &str) -> Vec<String> {
    use crate::gateway::integration::ResolvedIntegration;
    let snapshot = p.snapshot();
    let Some(st) = snapshot.gateway.stage(api, stage) else { return Vec::new() };
    let sides = std::iter::once(("stage", &st.main)).chain(st.canary.as_ref().map(|c| ("canary", &c.serving)));
    let mut out = Vec::new();
    for (side, serving) in sides {
        for (route, integration) in serving.deployment.routes.iter().zip(&serving.integrations) {
            let at = format!("{side} {} {}", route.method.as_str(), route.path.as_str());
            match integration {
                ResolvedIntegration::Mock { .. } | ResolvedIntegration::HttpProxy(Ok(_)) => {}
                ResolvedIntegration::Function(Err(reason)) | ResolvedIntegration::HttpProxy(Err(reason)) => {
                    out.push(format!("{at}: {reason}"))
                }
                ResolvedIntegration::Function(Ok(t)) => {
                    let target = format!("{}:{}", t.function, t.qualifier_text);
                    let missing = match (snapshot.functions.get(t.function.as_str()), &t.qualifier) {
                        (None, _) => Some(format!("function {} does not exist", t.function)),
                        (Some(f), crate::model::Qualifier::Alias(a)) if !f.aliases.contains_key(a.as_str()) => {
                            Some(format!("function {} has no alias {a}", t.function))
                        }
                        _ => None,
                    };
                    if let Some(m) = missing {
                        out.push(format!("{at}: {target}: {m} (requests answer 500)"));
                    } else if t.allowed == 0 {
                        out.push(format!(
                            "{at}: {target}: its resource policy does not let {api}/{stage} invoke it (requests answer 500); \
                             add a permission with source '{api}/{stage}/*/*' and qualifier '{}'",
                            t.qualifier_text
                        ));
                    }
                }
            }
        }
    }
    out
}

pub async fn get(p: &Arc<Platform>, id: ApiId, name: StageName) -> Result<StageRecord> {
    p.read(move |tx| stage(tx, &id, &name)).await
}

pub async fn list(p: &Arc<Platform>, id: ApiId) -> Result<Vec<StageRecord>> {
    p.read(move |tx| {
        api(tx, &id)?;
        tx.list_stages(&id)
    })
    .await
}

/// Deletes the stage; its cache entries go with it.
pub async fn delete(p: &Arc<Platform>, id: ApiId, name: StageName) -> Result<()> {
    let (a, n) = (id.clone(), name.clone());
    p.commit(move |tx| {
        stage(tx, &a, &n)?;
        tx.delete_stage(&a, &n)?;
        Ok(())
    })
    .await?;
    p.live.cache.flush_stage(id.as_str(), name.as_str());
    Ok(())
}

/// The stage takes the canary's deployment and merged variables; the canary stays, at
/// 0 % (as API Gateway's promotion).
pub async fn promote_canary(p: &Arc<Platform>, id: ApiId, name: StageName) -> Result<StageRecord> {
    promote(p, id, name, false).await
}

/// [`promote_canary`], and with `remove` the canary removed in the same transaction (API
/// Gateway's UpdateStage that copies the canary's deployment and removes `/canarySettings`).
pub async fn promote(p: &Arc<Platform>, id: ApiId, name: StageName, remove: bool) -> Result<StageRecord> {
    p.commit(move |tx| {
        let mut s = stage(tx, &id, &name)?;
        let Some(canary) = s.canary.as_mut() else {
            return Err(Error::Invalid("Promotion not available. Canary does not exist.".into()));
        };
        let variables = canary.variables(&s.variables);
        validate_variables(&variables)?;
        s.deployment_id = canary.deployment_id.clone();
        s.variables = variables;
        canary.percent_traffic = 0.0;
        if remove {
            s.canary = None;
        }
        check_backend_variables(tx, &s)?;
        tx.write_stage(&s)?;
        stage(tx, &id, &name)
    })
    .await
}

pub async fn remove_canary(p: &Arc<Platform>, id: ApiId, name: StageName) -> Result<StageRecord> {
    p.commit(move |tx| {
        let mut s = stage(tx, &id, &name)?;
        if s.canary.take().is_none() {
            return Err(Error::not_found(Kind::Canary, name.as_str()));
        }
        tx.write_stage(&s)?;
        stage(tx, &id, &name)
    })
    .await
}

/// Drops every cached response of the stage (FlushStageCache). The cache is live state
/// beside the snapshot, not stored: nothing to commit.
pub async fn flush_cache(p: &Arc<Platform>, id: ApiId, name: StageName) -> Result<StageRecord> {
    let rec = get(p, id, name).await?;
    p.live.cache.flush_stage(rec.api_id.as_str(), rec.name.as_str());
    // Every host has a cache of its own: a shared store tells the others to flush theirs.
    if let Some(pg) = p.shared.clone() {
        let event = format!("flush {} {}", rec.api_id.as_str(), rec.name.as_str());
        tokio::task::spawn_blocking(move || pg.broadcast_cache(&event))
            .await
            .map_err(|e| Error::internal(format!("store task failed: {e}")))??;
    }
    Ok(rec)
}

/// Issues a new cache-invalidation key (replacing the previous one) and returns it; only
/// its hash is stored, so it is shown once.
pub async fn issue_invalidation_key(p: &Arc<Platform>, id: ApiId, name: StageName) -> Result<String> {
    let key = crate::access::token("wgi_");
    let hash = crate::access::hash_key(&key);
    p.commit(move |tx| {
        let mut s = stage(tx, &id, &name)?;
        s.invalidation_key_hash = Some(hash);
        tx.write_stage(&s)
    })
    .await?;
    Ok(key)
}
