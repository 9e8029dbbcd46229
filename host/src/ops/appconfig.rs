//! Configuration per environment (AppConfig): applications, environments, profiles with
//! validators, immutable versions, deployment strategies, and deployments that roll a
//! version out to an environment. A deployment is written when it starts and when it
//! ends; in between its progress is the strategy's schedule applied to the clock
//! ([`crate::model::appconfig::Strategy::phase_at`]), which the data plane reads per
//! invocation too. [`finish_due`] (run by the platform's rollout task) records the
//! deployments whose time is up as `COMPLETE`.

use super::rollouts::{progress, tripped, DeploymentEvent, Rollout};
use super::{Error, Platform, Result};
use crate::model::appconfig::{self, ContentType, Monitor, Strategy, Validator};
use crate::model::hash::content_hash_hex;
use crate::store::appconfig::{
    ApplicationRecord, ConfigDeploymentRecord, ConfigVersionMeta, ConfigVersionRecord, DeploymentEnd,
    EnvironmentRecord, NewConfigDeployment, ProfileRecord,
};
use crate::store::Tx;
use std::sync::Arc;

/// Applications per installation.
pub const MAX_APPLICATIONS: usize = 100;
/// Environments, and profiles, per application.
pub const MAX_ENVIRONMENTS: usize = 20;
pub const MAX_PROFILES: usize = 100;
/// Custom deployment strategies.
pub const MAX_STRATEGIES: usize = 100;
/// How long a function validator may run (its own timeout applies too).
pub const VALIDATOR_TIMEOUT_MS: u64 = 10_000;

fn name(what: &str, s: &str) -> Result<()> {
    if appconfig::is_name(s) {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "Invalid {what} name '{}': use 1 to 64 of A-Z a-z 0-9 _ . -, not only dots",
        s.chars().take(80).collect::<String>()
    )))
}

fn not_found(what: &str, id: impl std::fmt::Display) -> Error {
    Error::not_found(crate::model::error::Kind::Config, format!("{what} {id}"))
}

fn application(tx: &dyn Tx, app: &str) -> Result<ApplicationRecord> {
    tx.list_applications()?.into_iter().find(|a| a.name == app).ok_or_else(|| not_found("application", app))
}

fn environment(tx: &dyn Tx, app: &str, env: &str) -> Result<EnvironmentRecord> {
    application(tx, app)?;
    tx.list_environments(Some(app))?
        .into_iter()
        .find(|e| e.name == env)
        .ok_or_else(|| not_found("environment", format!("{app}/{env}")))
}

fn profile(tx: &dyn Tx, app: &str, p: &str) -> Result<ProfileRecord> {
    application(tx, app)?;
    tx.list_profiles(app)?.into_iter().find(|r| r.name == p).ok_or_else(|| not_found("profile", format!("{app}/{p}")))
}

// ---- applications ----

pub async fn create_application(p: &Arc<Platform>, app: String, description: String) -> Result<ApplicationRecord> {
    name("application", &app)?;
    super::check_description(&description, 1024)?;
    crate::model::validate_text("description", &description)?;
    p.commit(move |tx| {
        if tx.list_applications()?.len() >= MAX_APPLICATIONS {
            return Err(Error::Invalid(format!("at most {MAX_APPLICATIONS} applications are allowed")));
        }
        if !tx.insert_application(&app, &description)? {
            return Err(Error::Conflict(format!("Application {app} already exists")));
        }
        application(tx, &app)
    })
    .await
}

pub async fn list_applications(p: &Arc<Platform>) -> Result<Vec<ApplicationRecord>> {
    p.read(|tx| tx.list_applications()).await
}

/// An application with its environments and profiles.
pub async fn get_application(
    p: &Arc<Platform>,
    app: String,
) -> Result<(ApplicationRecord, Vec<EnvironmentRecord>, Vec<ProfileRecord>)> {
    name("application", &app)?;
    p.read(move |tx| Ok((application(tx, &app)?, tx.list_environments(Some(&app))?, tx.list_profiles(&app)?))).await
}

/// Deployments that still serve something: active ones and each (environment, profile)'s
/// newest completed one.
fn serving(tx: &dyn Tx, app: &str) -> Result<Vec<ConfigDeploymentRecord>> {
    let all = tx.list_config_deployments(Some(app), None)?;
    let mut out: Vec<ConfigDeploymentRecord> = Vec::new();
    for d in all.iter().rev() {
        let newer_complete = out
            .iter()
            .any(|o| o.environment == d.environment && o.profile == d.profile && o.end == DeploymentEnd::Complete);
        match d.end {
            DeploymentEnd::Active => out.push(d.clone()),
            DeploymentEnd::Complete if !newer_complete => out.push(d.clone()),
            _ => {}
        }
    }
    Ok(out)
}

pub async fn delete_application(p: &Arc<Platform>, app: String) -> Result<()> {
    name("application", &app)?;
    p.commit(move |tx| {
        application(tx, &app)?;
        if let Some(d) = serving(tx, &app)?.first() {
            return Err(Error::Conflict(format!(
                "Application {app} has configuration deployed: profile {} version {} in environment {}",
                d.profile, d.version, d.environment
            )));
        }
        tx.delete_application(&app)?;
        Ok(())
    })
    .await
}

// ---- environments ----

pub async fn create_environment(
    p: &Arc<Platform>,
    app: String,
    env: String,
    monitors: Vec<Monitor>,
) -> Result<EnvironmentRecord> {
    name("application", &app)?;
    name("environment", &env)?;
    check_monitors_input(&monitors)?;
    p.commit(move |tx| {
        application(tx, &app)?;
        if tx.list_environments(Some(&app))?.len() >= MAX_ENVIRONMENTS {
            return Err(Error::Invalid(format!("an application can have at most {MAX_ENVIRONMENTS} environments")));
        }
        if !tx.insert_environment(&app, &env, &monitors)? {
            return Err(Error::Conflict(format!("Environment {env} already exists in application {app}")));
        }
        environment(tx, &app, &env)
    })
    .await
}

fn check_monitors_input(monitors: &[Monitor]) -> Result<()> {
    if monitors.len() > appconfig::MAX_MONITORS {
        return Err(Error::Invalid(format!("an environment can have at most {} monitors", appconfig::MAX_MONITORS)));
    }
    for m in monitors {
        m.validate(crate::live::windows::MAX_WINDOW_S)?;
    }
    Ok(())
}

/// Replaces an environment's monitors (they apply from the next evaluation, to running
/// deployments too, as AWS's UpdateEnvironment does).
pub async fn set_monitors(
    p: &Arc<Platform>,
    app: String,
    env: String,
    monitors: Vec<Monitor>,
) -> Result<EnvironmentRecord> {
    name("application", &app)?;
    name("environment", &env)?;
    check_monitors_input(&monitors)?;
    p.commit(move |tx| {
        environment(tx, &app, &env)?;
        tx.set_environment_monitors(&app, &env, &monitors)?;
        environment(tx, &app, &env)
    })
    .await
}

pub async fn get_environment(p: &Arc<Platform>, app: String, env: String) -> Result<EnvironmentRecord> {
    name("application", &app)?;
    name("environment", &env)?;
    p.read(move |tx| environment(tx, &app, &env)).await
}

pub async fn list_environments(p: &Arc<Platform>, app: String) -> Result<Vec<EnvironmentRecord>> {
    name("application", &app)?;
    p.read(move |tx| {
        application(tx, &app)?;
        tx.list_environments(Some(&app))
    })
    .await
}

/// Deleting an environment forgets what was deployed to it; not while a deployment runs.
pub async fn delete_environment(p: &Arc<Platform>, app: String, env: String) -> Result<()> {
    name("application", &app)?;
    name("environment", &env)?;
    p.commit(move |tx| {
        environment(tx, &app, &env)?;
        let now = crate::configuration::now_ms();
        if let Some(d) = active(tx, &app, &env, now)? {
            return Err(Error::Conflict(format!(
                "Deployment {} is in progress in environment {env}: stop it first",
                d.number
            )));
        }
        tx.delete_environment(&app, &env)?;
        Ok(())
    })
    .await
}

// ---- profiles ----

/// Checks validators when a profile is created: at most two; a JSON schema must be a valid
/// draft 2020-12 schema; a function target must be `NAME[:QUALIFIER]`.
fn check_validators(validators: &[Validator]) -> Result<()> {
    if validators.len() > appconfig::MAX_VALIDATORS {
        return Err(Error::Invalid(format!("a profile can have at most {} validators", appconfig::MAX_VALIDATORS)));
    }
    for v in validators {
        match v {
            Validator::JsonSchema { content } => {
                let size = serde_json::to_vec(content).map_or(usize::MAX, |b| b.len());
                if size > appconfig::MAX_SCHEMA_BYTES {
                    return Err(Error::Invalid(format!(
                        "a JSON schema validator is at most {} bytes",
                        appconfig::MAX_SCHEMA_BYTES
                    )));
                }
                compile_schema(content)?;
            }
            Validator::Function { target } => {
                let (f, q) = crate::model::qualifier::split_qualified(target);
                crate::model::FunctionName::parse(f)?;
                crate::model::Qualifier::parse(q)?;
            }
        }
    }
    Ok(())
}

/// A draft 2020-12 validator for `schema`; an invalid schema is 400 with the reason.
fn compile_schema(schema: &serde_json::Value) -> Result<jsonschema::Validator> {
    if let Err(e) = jsonschema::draft202012::meta::validate(schema) {
        return Err(Error::Invalid(format!("Invalid JSON schema: {e} (at {})", pointer(&e.instance_path.to_string()))));
    }
    jsonschema::draft202012::options().build(schema).map_err(|e| Error::Invalid(format!("Invalid JSON schema: {e}")))
}

fn pointer(p: &str) -> &str {
    if p.is_empty() {
        "the top level"
    } else {
        p
    }
}

pub async fn create_profile(
    p: &Arc<Platform>,
    app: String,
    prof: String,
    validators: Vec<Validator>,
) -> Result<ProfileRecord> {
    name("application", &app)?;
    name("profile", &prof)?;
    check_validators(&validators)?;
    p.commit(move |tx| {
        application(tx, &app)?;
        if tx.list_profiles(&app)?.len() >= MAX_PROFILES {
            return Err(Error::Invalid(format!("an application can have at most {MAX_PROFILES} profiles")));
        }
        if !tx.insert_profile(&app, &prof, &validators)? {
            return Err(Error::Conflict(format!("Profile {prof} already exists in application {app}")));
        }
        profile(tx, &app, &prof)
    })
    .await
}

pub async fn get_profile(p: &Arc<Platform>, app: String, prof: String) -> Result<ProfileRecord> {
    name("application", &app)?;
    name("profile", &prof)?;
    p.read(move |tx| profile(tx, &app, &prof)).await
}

pub async fn list_profiles(p: &Arc<Platform>, app: String) -> Result<Vec<ProfileRecord>> {
    name("application", &app)?;
    p.read(move |tx| {
        application(tx, &app)?;
        tx.list_profiles(&app)
    })
    .await
}

pub async fn delete_profile(p: &Arc<Platform>, app: String, prof: String) -> Result<()> {
    name("application", &app)?;
    name("profile", &prof)?;
    p.commit(move |tx| {
        profile(tx, &app, &prof)?;
        if let Some(d) = serving(tx, &app)?.into_iter().find(|d| d.profile == prof) {
            return Err(Error::Conflict(format!(
                "Profile {prof} has version {} deployed in environment {}",
                d.version, d.environment
            )));
        }
        tx.delete_profile(&app, &prof)?;
        Ok(())
    })
    .await
}

// ---- versions ----

/// What a candidate version's content is, once parsed: JSON and YAML as JSON values (for
/// schema validators), text as is.
fn parse_content(content_type: ContentType, content: &[u8]) -> Result<Option<serde_json::Value>> {
    let text = std::str::from_utf8(content)
        .map_err(|e| Error::Invalid(format!("Configuration content must be UTF-8 text: {e}")))?;
    match content_type {
        ContentType::Json => serde_json::from_str(text)
            .map(Some)
            .map_err(|e| Error::Invalid(format!("Configuration content is not valid JSON: {e}"))),
        ContentType::Yaml => serde_yaml_ng::from_str::<serde_json::Value>(text)
            .map(Some)
            .map_err(|e| Error::Invalid(format!("Configuration content is not valid YAML: {e}"))),
        ContentType::Text => Ok(None),
    }
}

/// Stores a new version of a profile after every validator passed; content identical to
/// the newest version's returns that version instead (`created` false), as publish does.
pub async fn create_version(
    p: &Arc<Platform>,
    app: String,
    prof: String,
    content_type: ContentType,
    content: Vec<u8>,
) -> Result<(ConfigVersionMeta, bool)> {
    name("application", &app)?;
    name("profile", &prof)?;
    if content.len() > appconfig::MAX_CONTENT_BYTES {
        return Err(Error::Invalid(format!(
            "Configuration content is {} bytes: at most {} are allowed",
            content.len(),
            appconfig::MAX_CONTENT_BYTES
        )));
    }
    let parsed = parse_content(content_type, &content)?;
    let (a2, p2) = (app.clone(), prof.clone());
    let record = p.read(move |tx| profile(tx, &a2, &p2)).await?;
    for v in &record.validators {
        validate(p, v, &app, &prof, content_type, &content, parsed.as_ref()).await?;
    }
    let hash = content_hash_hex(&content);
    p.commit(move |tx| {
        profile(tx, &app, &prof)?;
        if let Some(newest) = tx.list_config_versions(&app, &prof)?.into_iter().next() {
            if newest.content_hash == hash && newest.content_type == content_type.as_str() {
                return Ok((newest, false));
            }
        }
        let n = tx.insert_config_version(&app, &prof, content_type.as_str(), &content, &hash)?;
        let meta = tx
            .list_config_versions(&app, &prof)?
            .into_iter()
            .find(|v| v.number == n)
            .ok_or_else(|| Error::internal("the version just written is missing"))?;
        Ok((meta, true))
    })
    .await
}

/// Runs one validator on candidate content: `Err(Invalid)` with its reason if it rejects.
async fn validate(
    p: &Arc<Platform>,
    v: &Validator,
    app: &str,
    prof: &str,
    content_type: ContentType,
    content: &[u8],
    parsed: Option<&serde_json::Value>,
) -> Result<()> {
    match v {
        Validator::JsonSchema { content: schema } => {
            let Some(value) = parsed else {
                return Err(Error::Invalid(
                    "The profile has a JSON schema validator: its content must be JSON or YAML, not text".into(),
                ));
            };
            let validator = compile_schema(schema)?;
            let errors: Vec<String> = validator
                .iter_errors(value)
                .take(5)
                .map(|e| format!("{} (at {})", e, pointer(&e.instance_path.to_string())))
                .collect();
            if !errors.is_empty() {
                return Err(Error::Invalid(format!(
                    "Configuration content does not match the profile's JSON schema: {}",
                    errors.join("; ")
                )));
            }
            Ok(())
        }
        Validator::Function { target } => function_validator(p, target, app, prof, content_type, content).await,
    }
}

/// Invokes a validator function with `{"application","profile","content_type","content"}`:
/// a function error, a timeout, a missing function or `{"valid": false, "reason"}` rejects.
async fn function_validator(
    p: &Arc<Platform>,
    target: &str,
    app: &str,
    prof: &str,
    content_type: ContentType,
    content: &[u8],
) -> Result<()> {
    use crate::invoke::{self, CallContext};
    use crate::runtime::executor;
    use crate::runtime::GuestRequest;
    let reject = |why: String| Error::Invalid(format!("Validator function {target} rejected the content: {why}"));
    let (f, q) = crate::model::qualifier::split_qualified(target);
    let qualifier = crate::model::Qualifier::parse(q)?;
    let dp = p.data_plane().clone();
    let resolved = {
        let snapshot = dp.snapshot();
        invoke::resolve(&snapshot, f, &qualifier).map_err(|e| reject(e.to_string()))?
    };
    let event = serde_json::json!({
        "application": app,
        "profile": prof,
        "content_type": content_type.as_str(),
        "content": String::from_utf8_lossy(content),
    });
    let payload = bytes::Bytes::from(serde_json::to_vec(&event).map_err(Error::internal)?);
    let input = executor::encode(resolved.version.code.kind, GuestRequest::Direct(payload), usize::MAX)
        .map_err(|e| reject(e.to_string()))?;
    let request_id = uuid::Uuid::new_v4().to_string();
    let qualifier_text = qualifier.to_string();
    let ctx = CallContext {
        function: f,
        qualifier: &qualifier_text,
        stage: None,
        api: None,
        canary: false,
        request_id: &request_id,
        cut_off: Some(std::time::Duration::from_millis(VALIDATOR_TIMEOUT_MS)),
        class: crate::model::stage::PriorityClass::Production,
        capacity: None,
    };
    let outcome = dp.invoke(&resolved, ctx, input).await.map_err(|e| reject(e.to_string()))?;
    if let Some(err) = &outcome.error {
        if outcome.cut_off || err.error_type == "Sandbox.Timedout" {
            return Err(Error::Invalid(format!("Validator function {target} timed out: {}", err.error_message)));
        }
        return Err(reject(format!("{}: {}", err.error_type, err.error_message)));
    }
    // An HTTP component answers with a status: anything but 2xx rejects.
    if matches!(outcome.output, crate::runtime::executor::GuestOutput::WasiHttp(_)) {
        match outcome.output.http() {
            Ok(reply) if reply.status.is_success() => {}
            Ok(reply) => return Err(reject(format!("it answered status {}", reply.status.as_u16()))),
            Err(why) => return Err(reject(why)),
        }
    }
    let body = outcome.output.raw();
    if let Ok(serde_json::Value::Object(answer)) = serde_json::from_slice::<serde_json::Value>(&body) {
        if answer.get("valid") == Some(&serde_json::Value::Bool(false)) {
            let reason = answer.get("reason").and_then(|r| r.as_str()).unwrap_or("no reason given");
            return Err(reject(reason.to_string()));
        }
    }
    Ok(())
}

pub async fn list_versions(p: &Arc<Platform>, app: String, prof: String) -> Result<Vec<ConfigVersionMeta>> {
    name("application", &app)?;
    name("profile", &prof)?;
    p.read(move |tx| {
        profile(tx, &app, &prof)?;
        tx.list_config_versions(&app, &prof)
    })
    .await
}

/// A version with its content, verified against its hash.
pub async fn get_version(p: &Arc<Platform>, app: String, prof: String, n: u32) -> Result<ConfigVersionRecord> {
    name("application", &app)?;
    name("profile", &prof)?;
    let v = p
        .read(move |tx| {
            profile(tx, &app, &prof)?;
            tx.get_config_version(&app, &prof, n)?.ok_or_else(|| not_found("version", format!("{app}/{prof}/{n}")))
        })
        .await?;
    if content_hash_hex(&v.content) != v.meta.content_hash {
        return Err(Error::internal(format!(
            "configuration version {}/{}/{} does not match its hash: the stored content is corrupt",
            v.meta.application, v.meta.profile, v.meta.number
        )));
    }
    Ok(v)
}

pub async fn delete_version(p: &Arc<Platform>, app: String, prof: String, n: u32) -> Result<()> {
    name("application", &app)?;
    name("profile", &prof)?;
    p.commit(move |tx| {
        profile(tx, &app, &prof)?;
        if let Some(d) = serving(tx, &app)?.into_iter().find(|d| d.profile == prof && d.version == n) {
            return Err(Error::Conflict(format!(
                "Version {n} of profile {prof} is deployed in environment {}",
                d.environment
            )));
        }
        match tx.delete_config_version(&app, &prof, n)? {
            true => Ok(()),
            false => Err(not_found("version", format!("{app}/{prof}/{n}"))),
        }
    })
    .await
}

// ---- strategies ----

pub async fn create_strategy(p: &Arc<Platform>, s: Strategy) -> Result<Strategy> {
    name("strategy", &s.name)?;
    if appconfig::is_predefined(&s.name) {
        return Err(Error::Invalid(format!("Strategy names starting with AppConfig. are reserved: {}", s.name)));
    }
    s.validate()?;
    p.commit(move |tx| {
        if tx.list_strategies()?.len() >= MAX_STRATEGIES {
            return Err(Error::Invalid(format!("at most {MAX_STRATEGIES} deployment strategies are allowed")));
        }
        if !tx.insert_strategy(&s)? {
            return Err(Error::Conflict(format!("Deployment strategy {} already exists", s.name)));
        }
        Ok(s)
    })
    .await
}

/// The predefined strategies, then the custom ones.
pub async fn list_strategies(p: &Arc<Platform>) -> Result<Vec<Strategy>> {
    let custom = p.read(|tx| tx.list_strategies()).await?;
    Ok(appconfig::predefined().into_iter().chain(custom).collect())
}

fn strategy(tx: &dyn Tx, s: &str) -> Result<Strategy> {
    appconfig::predefined()
        .into_iter()
        .chain(tx.list_strategies()?)
        .find(|x| x.name == s)
        .ok_or_else(|| not_found("deployment strategy", s))
}

pub async fn get_strategy(p: &Arc<Platform>, s: String) -> Result<Strategy> {
    name("strategy", &s)?;
    p.read(move |tx| strategy(tx, &s)).await
}

/// Deployments keep their own copy, so deleting a strategy changes none of them.
pub async fn delete_strategy(p: &Arc<Platform>, s: String) -> Result<()> {
    name("strategy", &s)?;
    if appconfig::is_predefined(&s) {
        return Err(Error::Conflict(format!("Predefined strategy {s} can't be deleted")));
    }
    p.commit(move |tx| match tx.delete_strategy(&s)? {
        true => Ok(()),
        false => Err(not_found("deployment strategy", &s)),
    })
    .await
}

// ---- deployments ----

/// A deployment as it stands at `now_ms`: its state, percentage and event log.
#[derive(Debug, Clone)]
pub struct DeploymentStatus {
    pub record: ConfigDeploymentRecord,
    pub state: &'static str,
    pub percentage_complete: f64,
    pub events: Vec<DeploymentEvent>,
}

/// The state, percentage and events of `d` at `now_ms`, from its record and its frozen
/// strategy: the same computation wherever it is asked (API, data plane, restart).
pub fn status(d: ConfigDeploymentRecord, now_ms: i64) -> DeploymentStatus {
    let started =
        format!("Deployment of {} version {} started with strategy {}", d.profile, d.version, d.strategy.name);
    let (state, percentage_complete, events) = progress(
        &Rollout {
            strategy: &d.strategy,
            started_at_ms: d.started_at_ms,
            end: d.end,
            ended_at_ms: d.ended_at_ms,
            reason: d.reason.as_deref(),
            started,
            rolled_back: "The environment serves the previous version again",
        },
        now_ms,
    );
    DeploymentStatus { record: d, state, percentage_complete, events }
}

/// The environment's active deployment at `now_ms`, if one is still running; one whose
/// time is up is recorded as `COMPLETE` on the way (so a late rollout task never blocks
/// the next deployment).
fn active(tx: &dyn Tx, app: &str, env: &str, now_ms: i64) -> Result<Option<ConfigDeploymentRecord>> {
    for d in tx.list_config_deployments(Some(app), Some(env))? {
        if d.end != DeploymentEnd::Active {
            continue;
        }
        let ends = d.started_at_ms + d.strategy.total_ms() as i64;
        if ends <= now_ms {
            tx.end_config_deployment(app, env, d.number, DeploymentEnd::Complete, ends, None)?;
        } else {
            return Ok(Some(d));
        }
    }
    Ok(None)
}

pub struct StartDeployment {
    pub profile: String,
    pub version: u32,
    pub strategy: String,
    pub description: String,
}

pub async fn start_deployment(
    p: &Arc<Platform>,
    app: String,
    env: String,
    req: StartDeployment,
) -> Result<DeploymentStatus> {
    name("application", &app)?;
    name("environment", &env)?;
    name("profile", &req.profile)?;
    name("strategy", &req.strategy)?;
    super::check_description(&req.description, 1024)?;
    crate::model::validate_text("description", &req.description)?;
    p.commit(move |tx| {
        environment(tx, &app, &env)?;
        profile(tx, &app, &req.profile)?;
        if tx.get_config_version(&app, &req.profile, req.version)?.is_none() {
            return Err(not_found("version", format!("{app}/{}/{}", req.profile, req.version)));
        }
        let s = strategy(tx, &req.strategy)?;
        let now = crate::configuration::now_ms();
        if let Some(d) = active(tx, &app, &env, now)? {
            return Err(Error::Conflict(format!(
                "Deployment {} is already in progress in environment {env}: wait for it or stop it",
                d.number
            )));
        }
        let number = tx.insert_config_deployment(&NewConfigDeployment {
            application: &app,
            environment: &env,
            profile: &req.profile,
            version: req.version,
            strategy: &s,
            description: &req.description,
            started_at_ms: now,
        })?;
        // A strategy with nothing to wait for (no duration, no bake) completes at once.
        active(tx, &app, &env, now)?;
        let d = deployment(tx, &app, &env, number)?;
        Ok(status(d, now))
    })
    .await
}

fn deployment(tx: &dyn Tx, app: &str, env: &str, n: u32) -> Result<ConfigDeploymentRecord> {
    environment(tx, app, env)?;
    tx.list_config_deployments(Some(app), Some(env))?
        .into_iter()
        .find(|d| d.number == n)
        .ok_or_else(|| not_found("deployment", format!("{app}/{env}/{n}")))
}

pub async fn list_deployments(p: &Arc<Platform>, app: String, env: String) -> Result<Vec<DeploymentStatus>> {
    name("application", &app)?;
    name("environment", &env)?;
    let now = crate::configuration::now_ms();
    let all = p
        .read(move |tx| {
            environment(tx, &app, &env)?;
            tx.list_config_deployments(Some(&app), Some(&env))
        })
        .await?;
    Ok(all.into_iter().rev().map(|d| status(d, now)).collect())
}

pub async fn get_deployment(p: &Arc<Platform>, app: String, env: String, n: u32) -> Result<DeploymentStatus> {
    name("application", &app)?;
    name("environment", &env)?;
    let d = p.read(move |tx| deployment(tx, &app, &env, n)).await?;
    Ok(status(d, crate::configuration::now_ms()))
}

/// Stops a running deployment: the environment serves the previous version again.
pub async fn stop_deployment(
    p: &Arc<Platform>,
    app: String,
    env: String,
    n: u32,
    reason: String,
) -> Result<DeploymentStatus> {
    name("application", &app)?;
    name("environment", &env)?;
    p.commit(move |tx| {
        let d = deployment(tx, &app, &env, n)?;
        let now = crate::configuration::now_ms();
        let running = active(tx, &app, &env, now)?.is_some_and(|a| a.number == n);
        if !running {
            let d = deployment(tx, &app, &env, n)?;
            return Err(Error::Conflict(format!("Deployment {n} is not in progress: it is {}", status(d, now).state)));
        }
        tx.end_config_deployment(&app, &env, d.number, DeploymentEnd::RolledBack, now, Some(&reason))?;
        Ok(status(deployment(tx, &app, &env, n)?, now))
    })
    .await
}

/// Records every deployment whose time is up as `COMPLETE` (the rollout task calls it);
/// returns how many, and when the next one is due (unix ms), if any is running.
pub async fn finish_due(p: &Arc<Platform>) -> Result<(usize, Option<i64>)> {
    let now = crate::configuration::now_ms();
    let due = p
        .read(move |tx| {
            let all = tx.list_config_deployments(None, None)?;
            Ok(all.into_iter().filter(|d| d.end == DeploymentEnd::Active).collect::<Vec<_>>())
        })
        .await?;
    let next = due.iter().map(|d| d.started_at_ms + d.strategy.total_ms() as i64).filter(|t| *t > now).min();
    if !due.iter().any(|d| d.started_at_ms + d.strategy.total_ms() as i64 <= now) {
        return Ok((0, next));
    }
    let finished = p
        .commit(move |tx| {
            let mut n = 0;
            for d in tx.list_config_deployments(None, None)? {
                let ends = d.started_at_ms + d.strategy.total_ms() as i64;
                if d.end == DeploymentEnd::Active
                    && ends <= now
                    && tx.end_config_deployment(
                        &d.application,
                        &d.environment,
                        d.number,
                        DeploymentEnd::Complete,
                        ends,
                        None,
                    )?
                {
                    n += 1;
                }
            }
            Ok(n)
        })
        .await?;
    Ok((finished, next))
}

/// Evaluates the monitors of every environment with a deployment `DEPLOYING` or `BAKING`
/// and rolls back each deployment whose environment has a monitor that trips, with the
/// rule and the measured value as its reason. Returns how many were rolled back.
pub async fn check_monitors(p: &Arc<Platform>) -> Result<usize> {
    let now = crate::configuration::now_ms();
    let (running, environments) = p
        .read(|tx| {
            let running: Vec<ConfigDeploymentRecord> = tx
                .list_config_deployments(None, None)?
                .into_iter()
                .filter(|d| d.end == DeploymentEnd::Active)
                .collect();
            let environments = if running.is_empty() { Vec::new() } else { tx.list_environments(None)? };
            Ok((running, environments))
        })
        .await?;
    let mut trips = Vec::new();
    {
        let snapshot = p.data_plane().snapshot();
        for d in running {
            if !matches!(status(d.clone(), now).state, "DEPLOYING" | "BAKING") {
                continue;
            }
            let Some(env) = environments.iter().find(|e| e.application == d.application && e.name == d.environment)
            else {
                continue;
            };
            let reason = env.monitors.iter().find_map(|m| {
                let w = snapshot.config.window(m.function(), &d.environment)?;
                tripped(m, &w.stats(m.window_s()))
            });
            if let Some(reason) = reason {
                trips.push((d, reason));
            }
        }
    }
    let mut rolled_back = 0;
    for (d, reason) in trips {
        tracing::warn!(application = %d.application, environment = %d.environment, deployment = d.number, "{reason}: rolling back");
        match stop_deployment(p, d.application, d.environment, d.number, reason).await {
            Ok(_) => rolled_back += 1,
            // Ended meanwhile (completed, or stopped by a user): nothing to roll back.
            Err(Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(rolled_back)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::appconfig::GrowthType;

    fn record(end: DeploymentEnd, ended_at_ms: Option<i64>) -> ConfigDeploymentRecord {
        ConfigDeploymentRecord {
            application: "shop".into(),
            environment: "prod".into(),
            number: 1,
            profile: "flags".into(),
            version: 2,
            strategy: Strategy {
                name: "Linear25Every10s".into(),
                description: String::new(),
                growth_type: GrowthType::Linear,
                growth_factor: 25.0,
                duration_s: 40,
                final_bake_time_s: 20,
            },
            description: String::new(),
            started_at_ms: 1_000_000,
            end,
            ended_at_ms,
            reason: Some("stopped by a user".into()),
        }
    }

    fn types(s: &DeploymentStatus) -> Vec<&'static str> {
        s.events.iter().map(|e| e.event_type).collect()
    }

    #[test]
    fn status_follows_the_clock_and_the_end() {
        let s = status(record(DeploymentEnd::Active, None), 1_015_000);
        assert_eq!((s.state, s.percentage_complete), ("DEPLOYING", 50.0));
        assert_eq!(types(&s), ["DEPLOYMENT_STARTED", "PERCENTAGE_UPDATED", "PERCENTAGE_UPDATED"]);
        let s = status(record(DeploymentEnd::Active, None), 1_045_000);
        assert_eq!((s.state, s.percentage_complete), ("BAKING", 100.0));
        assert_eq!(types(&s).last(), Some(&"BAKE_TIME_STARTED"));
        let s = status(record(DeploymentEnd::Active, None), 1_060_000);
        assert_eq!(s.state, "COMPLETE");
        assert_eq!(types(&s).last(), Some(&"DEPLOYMENT_COMPLETED"));
        // Rolled back at 25 s: the events stop there, and it says why.
        let s = status(record(DeploymentEnd::RolledBack, Some(1_025_000)), 2_000_000);
        assert_eq!((s.state, s.percentage_complete), ("ROLLED_BACK", 0.0));
        assert_eq!(
            types(&s),
            [
                "DEPLOYMENT_STARTED",
                "PERCENTAGE_UPDATED",
                "PERCENTAGE_UPDATED",
                "PERCENTAGE_UPDATED",
                "ROLLBACK_STARTED",
                "ROLLBACK_COMPLETED"
            ]
        );
        assert_eq!(s.events[4].description, "stopped by a user");
    }
}
