//! From "function:qualifier" to a finished invocation: the shared tail of every request
//! path (the gateway's integrations and direct invoke on the management API).
//! Resolution order: [`alias`] (weighted pick) → [`version`] (frozen code + config) →
//! [`crate::runtime`] (fresh instance).

pub mod alias;
pub mod version;

use crate::live::usage::StageCapacity;
use crate::model::stage::PriorityClass;
use crate::model::{function_arn, Qualifier, VersionId};
use crate::observe::{InvocationRecord, Observer};
use crate::runtime::{GuestInput, Invocation, InvokeError, Outcome, Runtime};
use crate::snapshot::{Snapshot, VersionSnapshot};
use std::sync::Arc;
use std::time::Duration;

/// A qualifier resolved against a snapshot.
#[derive(Clone)]
pub struct Resolved {
    pub version: Arc<VersionSnapshot>,
    /// Set when the caller named an alias.
    pub alias: Option<String>,
    /// The version's configuration with `secret:NAME` references resolved for the
    /// invoking environment ([`with_secrets`]); `None`: run `version.config` as is.
    pub config: Option<Arc<crate::model::FunctionConfig>>,
    pub reserved: Option<crate::live::concurrency::Reserved>,
    /// The version's outbound allow-list filled with `environment`'s values
    /// ([`with_secrets`]); `None`: the version declares none (every request refused).
    pub outbound: Option<Arc<crate::model::outbound::AllowList>>,
    /// The configuration profiles the version may read, as deployed to the invoking
    /// environment ([`with_secrets`]): the files under `/config`.
    pub files: Vec<Arc<crate::model::appconfig::ConfigFile>>,
    /// Where the invocation is counted for the invoking environment's deployment
    /// monitors ([`with_secrets`]), if one watches this function there.
    pub window: Option<Arc<crate::live::windows::Window>>,
    /// Where it is counted for an alias shift's monitors on its version, if one watches it.
    pub version_window: Option<Arc<crate::live::windows::Window>>,
}

/// Resolves what depends on the invoking `environment`: the version's secret references
/// (from the snapshot's decrypted secrets; `Err` names a missing secret, a function
/// configuration error) and its outbound allow-list's `${environment.NAME}` values (an
/// entry whose value is missing stays unusable, and a request it would allow is refused
/// naming it).
pub fn with_secrets(
    snapshot: &Snapshot,
    mut resolved: Resolved,
    function: &str,
    environment: &str,
) -> Result<Resolved, String> {
    use crate::model::outbound;
    resolved.config = snapshot.secrets.resolve(&resolved.version.config, environment)?;
    let values = snapshot.values.get(environment);
    // Env values may use `${environment.NAME}` too (`https://payments.${environment.paymentsHost}`).
    let config = resolved.config.as_deref().unwrap_or(&resolved.version.config);
    if config.env.values().any(|v| outbound::has_placeholders(v)) {
        let mut filled = config.clone();
        for (var, value) in filled.env.iter_mut() {
            if outbound::has_placeholders(value) {
                *value = outbound::fill_placeholders(value, values).map_err(|why| {
                    format!("environment variable {var}: {why} in environment '{environment}' (PUT /v1/environments/{environment}/values/NAME)")
                })?;
            }
        }
        resolved.config = Some(Arc::new(filled));
    }
    // Monitors' windows: one lookup by function; the version key is built only when some
    // monitor watches this function.
    if let Some(windows) = snapshot.config.windows_of(function) {
        resolved.window = windows.get(environment).cloned();
        if let VersionId::Number(n) = resolved.version.version {
            resolved.version_window = windows.get(&crate::store::appconfig::version_window_key(n)).cloned();
        }
    }
    let profiles = &resolved.version.config.config;
    if !profiles.is_empty() {
        let now = crate::configuration::now_ms();
        resolved.files = snapshot.config.files(profiles, environment, now, &mut rand::rng());
    }
    let entries = &resolved.version.config.outbound;
    if !entries.is_empty() {
        resolved.outbound = Some(Arc::new(outbound::AllowList::resolve(entries, values)));
    }
    Ok(resolved)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No such function, or no such version or alias of it (`qualifier`).
    #[error("Function not found: {}", function_arn(function, qualifier.as_deref()))]
    NotFound { function: String, qualifier: Option<String> },
    /// The function exists but `$LATEST` has no code yet.
    #[error("Function {function} has no code yet: upload it with PUT /v1/functions/{function}/code")]
    NoCode { function: String },
}

pub fn resolve(snapshot: &Snapshot, function: &str, qualifier: &Qualifier) -> Result<Resolved, ResolveError> {
    let not_found =
        |q: Option<&str>| ResolveError::NotFound { function: function.to_string(), qualifier: q.map(str::to_string) };
    let f = snapshot.functions.get(function).ok_or_else(|| not_found(None))?;
    let (id, alias) = match qualifier {
        Qualifier::Version(v) => (*v, None),
        Qualifier::Alias(a) => {
            let alias = f.aliases.get(a.as_str()).ok_or_else(|| not_found(Some(a)))?;
            (alias::pick(alias, &mut rand::rng()), Some(a.to_string()))
        }
    };
    let version = version::lookup(f, id).ok_or_else(|| match id {
        VersionId::Latest => ResolveError::NoCode { function: function.to_string() },
        VersionId::Number(n) => not_found(Some(&n.to_string())),
    })?;
    Ok(Resolved {
        version,
        alias,
        config: None,
        reserved: f.reserved.clone(),
        outbound: None,
        files: Vec::new(),
        window: None,
        version_window: None,
    })
}

/// Context of one call besides the payload.
pub struct CallContext<'a> {
    pub function: &'a str,
    pub qualifier: &'a str,
    pub stage: Option<&'a str>,
    /// The API that routed the request (gateway only).
    pub api: Option<&'a str>,
    /// True when a stage canary served the request.
    pub canary: bool,
    pub request_id: &'a str,
    /// When the caller stops waiting (the gateway's integration timeout): see
    /// [`Invocation::cut_off`].
    pub cut_off: Option<std::time::Duration>,
    /// Which work runs first ([`crate::runtime::priority`]).
    pub class: PriorityClass,
    /// The stage's concurrency limit and usage counters (gateway only).
    pub capacity: Option<&'a StageCapacity>,
}

/// A [`CallContext`] that owns its strings, to cross into another runtime.
pub struct OwnedCallContext {
    function: String,
    qualifier: String,
    stage: Option<String>,
    api: Option<String>,
    canary: bool,
    request_id: String,
    cut_off: Option<std::time::Duration>,
    class: PriorityClass,
    capacity: Option<StageCapacity>,
}

impl CallContext<'_> {
    pub fn to_owned(&self) -> OwnedCallContext {
        OwnedCallContext {
            function: self.function.to_string(),
            qualifier: self.qualifier.to_string(),
            stage: self.stage.map(str::to_string),
            api: self.api.map(str::to_string),
            canary: self.canary,
            request_id: self.request_id.to_string(),
            cut_off: self.cut_off,
            class: self.class,
            capacity: self.capacity.cloned(),
        }
    }
}

impl OwnedCallContext {
    pub fn borrow(&self) -> CallContext<'_> {
        CallContext {
            function: &self.function,
            qualifier: &self.qualifier,
            stage: self.stage.as_deref(),
            api: self.api.as_deref(),
            canary: self.canary,
            request_id: &self.request_id,
            cut_off: self.cut_off,
            class: self.class,
            capacity: self.capacity.as_ref(),
        }
    }
}

/// Runs the invocation and records it ([`crate::observe`]: log lines, metrics), throttles
/// included: the stage's `max_concurrency` first, then the function's reserved
/// concurrency, then the pool (development's share of it, for development work).
pub async fn run(
    runtime: &Runtime,
    observer: &Observer,
    resolved: &Resolved,
    ctx: CallContext<'_>,
    input: GuestInput,
) -> Result<Outcome, InvokeError> {
    let v = &resolved.version;
    let version = v.version.to_string();
    // Held until the invocation returns: the stage's place under its max_concurrency.
    let _running;
    // Held until the instance is gone: the function's place under its reserved concurrency.
    let _permit;
    let stage = ctx.capacity.map(|c| c.usage.enter(c.max_concurrency));
    let mut result = match (stage, resolved.reserved.as_ref().map(|r| r.acquire())) {
        (Some(None), _) => Err(InvokeError::StageConcurrency),
        (_, Some(None)) => Err(InvokeError::ReservedConcurrency),
        (running, permit) => {
            _running = running.flatten();
            _permit = permit.flatten();
            runtime
                .invoke(Invocation {
                    function: ctx.function,
                    executed_version: v.version,
                    qualifier: ctx.qualifier,
                    alias: resolved.alias.as_deref(),
                    stage: ctx.stage,
                    request_id: ctx.request_id,
                    code: &v.code,
                    config: resolved.config.as_deref().unwrap_or(&v.config),
                    input,
                    cut_off: ctx.cut_off,
                    class: ctx.class,
                    outbound: resolved.outbound.clone(),
                    files: (!resolved.version.config.config.is_empty()).then_some(&resolved.files[..]),
                })
                .await
        }
    };
    let labels = |outcome| InvocationRecord {
        function: ctx.function,
        executed_version: &version,
        qualifier: ctx.qualifier,
        alias: resolved.alias.as_deref(),
        api: ctx.api,
        stage: ctx.stage,
        canary: ctx.canary,
        request_id: ctx.request_id,
        memory_mb: v.config.memory_mb,
        outcome,
        config: &resolved.files,
    };
    if let Ok(outcome) = &mut result {
        // The caller answers first; the instance is torn down right after.
        if let Some(r) = outcome.retired.take() {
            r.release_later();
        }
    }
    for w in resolved.window.iter().chain(&resolved.version_window) {
        match &result {
            Ok(o) => w.record(o.timing.instantiate + o.timing.run, o.error.is_some()),
            Err(InvokeError::CodeUnavailable(_) | InvokeError::Internal(_)) => w.record(Duration::ZERO, true),
            Err(_) => {}
        }
    }
    match &result {
        Ok(outcome) => observer.record(&labels(outcome)),
        Err(e) => {
            let empty = Outcome::empty();
            let rec = labels(&empty);
            match e {
                InvokeError::Throttled
                | InvokeError::ReservedConcurrency
                | InvokeError::DevelopmentShare
                | InvokeError::StageConcurrency => observer.metrics.throttle(rec.labels()),
                InvokeError::CodeUnavailable(_) => observer.metrics.error(rec.labels(), "CodeUnavailable"),
                InvokeError::Internal(_) => observer.metrics.error(rec.labels(), "Internal"),
            }
        }
    }
    result
}
