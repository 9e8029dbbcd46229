//! Lambda's API (2015-03-31) over Waygate's functions, versions, aliases, permissions and
//! invocations: each handler reads AWS's request shape, calls the `ops` function the
//! `/v1` twin calls, and renders AWS's response shape (PascalCase fields, ARNs, seconds
//! for timeouts, `CodeSha256`). Errors keep the one error type: its `x-amzn-errortype`
//! header is what botocore reads for the exception class.

use super::{function_name, AwsSettings};
use crate::control::body::read_limited;
use crate::control::error::{ApiError, ApiResult};
use crate::control::invoke::{execute, qualifier, read_payload};
use crate::control::{AppState, RequestId};
use crate::model::{AliasName, AliasTarget, FunctionConfigPatch, FunctionName, Qualifier, VersionId};
use crate::ops;
use crate::store::{AliasRecord, FunctionRecord, PermissionRecord, VersionRecord};
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// ListFunctions' and ListVersionsByFunction's page size: default and most (Lambda's).
const DEFAULT_MAX_ITEMS: usize = 50;
const MAX_MAX_ITEMS: usize = 10_000;

/// A JSON body of up to `limit` bytes, parsed into `T` (unknown fields refused by `T`).
async fn json_body<T: serde::de::DeserializeOwned>(body: Body, limit: usize) -> ApiResult<T> {
    let bytes = read_limited(body, limit, "Request").await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return serde_json::from_slice(b"{}").map_err(|e| ApiError::BadRequest(format!("Invalid JSON body: {e}")));
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::BadRequest(format!("Invalid JSON body: {e}")))
}

/// Small bodies (everything but code).
const SMALL: usize = 1024 * 1024;

fn code_body_limit(p: &AppState) -> usize {
    p.config.max_upload_bytes / 3 * 4 + SMALL
}

/// Lambda's `LastModified`: `2026-12-06T20:16:25.000+0000`.
fn last_modified(rfc3339: &str) -> String {
    const OUT: &[time::format_description::BorrowedFormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000");
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| t.to_offset(time::UtcOffset::UTC).format(OUT).ok())
        .unwrap_or_else(|| rfc3339.to_string())
}

/// What a FunctionConfiguration shows of one version (or `$LATEST`).
struct Shown<'a> {
    name: &'a FunctionName,
    version: String,
    config: &'a crate::model::FunctionConfig,
    /// A version's own description (PublishVersion's), else the configuration's.
    description: &'a str,
    code_size: Option<u64>,
    package_sha256: Option<&'a str>,
    revision_id: &'a str,
    modified: &'a str,
}

fn configuration(aws: &AwsSettings, s: Shown<'_>, qualified_arn: bool) -> Value {
    let mut c = Map::new();
    c.insert("FunctionName".into(), json!(s.name));
    let q = (qualified_arn || s.version != "$LATEST").then_some(s.version.as_str());
    c.insert("FunctionArn".into(), json!(aws.function_arn(s.name.as_str(), q)));
    for field in crate::model::config::LAMBDA_FIELDS {
        if let Some(v) = s.config.lambda.get(field) {
            c.insert(field.into(), json!(v));
        }
    }
    c.insert("CodeSize".into(), json!(s.code_size.unwrap_or(0)));
    c.insert("CodeSha256".into(), json!(s.package_sha256.unwrap_or("")));
    c.insert("Description".into(), json!(s.description));
    c.insert("Timeout".into(), json!(s.config.timeout_ms.div_ceil(1000)));
    c.insert("MemorySize".into(), json!(s.config.memory_mb));
    c.insert("LastModified".into(), json!(last_modified(s.modified)));
    c.insert("Version".into(), json!(s.version));
    if !s.config.env.is_empty() {
        c.insert("Environment".into(), json!({ "Variables": s.config.env }));
    }
    c.insert("RevisionId".into(), json!(s.revision_id));
    c.insert("State".into(), json!("Active"));
    c.insert("LastUpdateStatus".into(), json!("Successful"));
    c.insert("PackageType".into(), json!("Zip"));
    Value::Object(c)
}

/// The size of a version's module (its blob).
fn code_size(p: &AppState, v: &VersionRecord) -> Option<u64> {
    std::fs::metadata(p.data.blob(&v.code_hash)).ok().map(|m| m.len())
}

fn latest_configuration(aws: &AwsSettings, f: &FunctionRecord) -> Value {
    configuration(
        aws,
        Shown {
            name: &f.name,
            version: "$LATEST".into(),
            config: &f.config,
            description: &f.config.description,
            code_size: f.code_size,
            package_sha256: f.package_sha256.as_deref(),
            revision_id: &f.revision_id,
            modified: &f.updated_at,
        },
        false,
    )
}

fn version_configuration(aws: &AwsSettings, v: &VersionRecord, code_size: Option<u64>) -> Value {
    configuration(
        aws,
        Shown {
            name: &v.function,
            version: v.version.to_string(),
            config: &v.config,
            description: if v.description.is_empty() { &v.config.description } else { &v.description },
            code_size,
            package_sha256: v.package_sha256.as_deref(),
            // A version never changes: its revision is its content.
            revision_id: &v.version_hash,
            modified: &v.created_at,
        },
        true,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct Environment {
    #[serde(default)]
    variables: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct Code {
    zip_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct CreateFunction {
    function_name: String,
    code: Code,
    role: Option<String>,
    handler: Option<String>,
    runtime: Option<String>,
    description: Option<String>,
    timeout: Option<u32>,
    memory_size: Option<u32>,
    environment: Option<Environment>,
    #[serde(default)]
    publish: bool,
    package_type: Option<String>,
    architectures: Option<Vec<String>>,
}

fn lambda_fields(
    role: Option<String>,
    handler: Option<String>,
    runtime: Option<String>,
) -> Option<BTreeMap<String, String>> {
    let fields: BTreeMap<String, String> = [("Role", role), ("Handler", handler), ("Runtime", runtime)]
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_string(), v?)))
        .collect();
    (!fields.is_empty()).then_some(fields)
}

fn timeout_ms(seconds: Option<u32>) -> ApiResult<Option<u32>> {
    seconds
        .map(|s| {
            s.checked_mul(1000)
                .ok_or_else(|| ApiError::BadRequest(format!("Timeout {s} is out of range: at most 900 seconds")))
        })
        .transpose()
}

/// The module in a base64 `ZipFile`, and the package's bytes (for `CodeSha256`).
fn unpack(p: &AppState, zip_file: Option<&str>) -> ApiResult<(bytes::Bytes, Vec<u8>)> {
    let encoded =
        zip_file.ok_or_else(|| ApiError::BadRequest("Code.ZipFile is required: Waygate takes code inline".into()))?;
    let package = B64
        .decode(encoded.trim())
        .map_err(|e| ApiError::BadRequest(format!("Could not decode ZipFile: it must be base64 ({e})")))?;
    if package.len() > p.config.max_upload_bytes {
        return Err(ApiError::PayloadTooLarge(format!(
            "Zipped size must be smaller than {} bytes",
            p.config.max_upload_bytes
        )));
    }
    let module = super::package::module(&package, p.config.max_upload_bytes)?;
    Ok((module, package))
}

pub async fn create_function(State(p): State<AppState>, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let req: CreateFunction = json_body(body, code_body_limit(&p)).await?;
    if req.package_type.as_deref().is_some_and(|t| t != "Zip") {
        return Err(ApiError::BadRequest("PackageType must be Zip: Waygate runs WebAssembly modules".into()));
    }
    if let Some(a) = req.architectures.as_ref().filter(|a| a.len() > 1) {
        return Err(ApiError::BadRequest(format!("Architectures takes one value, not {}", a.len())));
    }
    let (name, q) = function_name(&req.function_name)?;
    if q.is_some() {
        return Err(ApiError::BadRequest("FunctionName must not carry a qualifier when creating a function".into()));
    }
    let patch = FunctionConfigPatch {
        env: req.environment.map(|e| e.variables),
        memory_mb: req.memory_size,
        timeout_ms: timeout_ms(req.timeout)?,
        description: req.description,
        lambda: lambda_fields(req.role, req.handler, req.runtime),
        ..Default::default()
    };
    let (module, package) = unpack(&p, req.code.zip_file.as_deref())?;
    let (f, version) = ops::functions::create_with_code(&p, name, patch, module, Some(&package), req.publish).await?;
    let body = match version {
        Some(v) => version_configuration(&p.config.aws, &v, f.code_size),
        None => latest_configuration(&p.config.aws, &f),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QualifierQuery {
    qualifier: Option<String>,
}

/// The configuration of `NAME[:Q]` / `?Qualifier=`: `$LATEST`, a version, or an alias's
/// primary version (with the alias's ARN, as Lambda shows it).
async fn configuration_of(p: &AppState, raw: &str, query: Option<&str>) -> ApiResult<(FunctionRecord, Value)> {
    let (name, from_name) = function_name(raw)?;
    let q = qualifier(from_name.as_deref(), query)?;
    let f = ops::functions::get(p, name.clone()).await?;
    let aws = &p.config.aws;
    let shown = match &q {
        Qualifier::Version(VersionId::Latest) => {
            let mut c = latest_configuration(aws, &f);
            if from_name.is_some() || query.is_some() {
                c["FunctionArn"] = json!(aws.function_arn(name.as_str(), Some("$LATEST")));
            }
            c
        }
        Qualifier::Version(VersionId::Number(n)) => {
            let v = ops::versions::get(p, name.clone(), *n).await?;
            version_configuration(aws, &v, code_size(p, &v))
        }
        Qualifier::Alias(a) => {
            let alias = ops::aliases::get(p, name.clone(), a.clone()).await?;
            let mut c = match alias.version {
                VersionId::Latest => latest_configuration(aws, &f),
                VersionId::Number(n) => {
                    let v = ops::versions::get(p, name.clone(), n).await?;
                    version_configuration(aws, &v, code_size(p, &v))
                }
            };
            c["FunctionArn"] = json!(aws.function_arn(name.as_str(), Some(a.as_str())));
            c
        }
    };
    Ok((f, shown))
}

pub async fn get_function(
    State(p): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> ApiResult<Json<Value>> {
    let (f, configuration) = configuration_of(&p, &name, q.qualifier.as_deref()).await?;
    let mut body = json!({ "Configuration": configuration, "Code": { "RepositoryType": "Waygate" } });
    if let Some(n) = f.reserved_concurrency {
        body["Concurrency"] = json!({ "ReservedConcurrentExecutions": n });
    }
    Ok(Json(body))
}

pub async fn get_function_configuration(
    State(p): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(configuration_of(&p, &name, q.qualifier.as_deref()).await?.1))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListQuery {
    marker: Option<String>,
    max_items: Option<String>,
    // ListFunctions' filters Waygate has nothing to filter by.
    #[serde(rename = "FunctionVersion")]
    function_version: Option<String>,
    #[serde(rename = "MasterRegion")]
    _master_region: Option<String>,
}

/// One page of `items` (in their order) after `marker` (the key of the last item of the
/// previous page), and the next marker when more remain.
fn page<T>(items: Vec<T>, key: impl Fn(&T) -> String, q: &ListQuery) -> ApiResult<(Vec<T>, Option<String>)> {
    let max = match q.max_items.as_deref() {
        None => DEFAULT_MAX_ITEMS,
        Some(s) => s.parse::<usize>().ok().filter(|n| (1..=MAX_MAX_ITEMS).contains(n)).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "1 validation error detected: Value '{}' at 'maxItems' failed to satisfy constraint: Member must \
                 have value between 1 and {MAX_MAX_ITEMS}",
                s.chars().take(20).collect::<String>()
            ))
        })?,
    };
    let start = match q.marker.as_deref().filter(|m| !m.is_empty()) {
        None => 0,
        Some(m) => {
            let m = B64.decode(m).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(|| {
                ApiError::BadRequest("Invalid Marker: pass the NextMarker of the previous page".into())
            })?;
            items.iter().position(|i| key(i) > m).unwrap_or(items.len())
        }
    };
    let rest: Vec<T> = items.into_iter().skip(start).collect();
    let more = rest.len() > max;
    let page: Vec<T> = rest.into_iter().take(max).collect();
    let next = more.then(|| page.last().map(|i| B64.encode(key(i)))).flatten();
    Ok((page, next))
}

pub async fn list_functions(State(p): State<AppState>, Query(q): Query<ListQuery>) -> ApiResult<Json<Value>> {
    if q.function_version.as_deref().is_some_and(|v| v != "ALL") {
        return Err(ApiError::BadRequest("FunctionVersion must be ALL".into()));
    }
    let all = ops::functions::list(&p).await?;
    let (fs, next) = page(all, |f| f.name.to_string(), &q)?;
    let mut body =
        json!({ "Functions": fs.iter().map(|f| latest_configuration(&p.config.aws, f)).collect::<Vec<_>>() });
    if let Some(m) = next {
        body["NextMarker"] = json!(m);
    }
    Ok(Json(body))
}

pub async fn delete_function(
    State(p): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> ApiResult<StatusCode> {
    let (name, from_name) = function_name(&name)?;
    match qualifier(from_name.as_deref(), q.qualifier.as_deref())? {
        Qualifier::Version(VersionId::Latest) if from_name.is_none() && q.qualifier.is_none() => {
            ops::functions::delete(&p, name).await?
        }
        Qualifier::Version(VersionId::Latest) => {
            return Err(ApiError::BadRequest("$LATEST version cannot be deleted without deleting the function.".into()))
        }
        Qualifier::Version(VersionId::Number(n)) => ops::versions::delete(&p, name, n).await?,
        Qualifier::Alias(_) => {
            return Err(ApiError::BadRequest(
                "Deletion of aliases is not supported by DeleteFunction: use DeleteAlias".into(),
            ))
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

fn unqualified(raw: &str) -> ApiResult<FunctionName> {
    match function_name(raw)? {
        (name, None) => Ok(name),
        (_, Some(q)) => Err(ApiError::BadRequest(format!(
            "This operation takes the unqualified function name, not a qualifier ({})",
            q.chars().take(130).collect::<String>()
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct UpdateCode {
    zip_file: Option<String>,
    #[serde(default)]
    publish: bool,
    revision_id: Option<String>,
    #[serde(default)]
    dry_run: bool,
    architectures: Option<Vec<String>>,
}

pub async fn update_function_code(
    State(p): State<AppState>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let name = unqualified(&name)?;
    let req: UpdateCode = json_body(body, code_body_limit(&p)).await?;
    if req.dry_run {
        return Err(ApiError::BadRequest("DryRun is not supported by Waygate's UpdateFunctionCode".into()));
    }
    if let Some(a) = req.architectures.as_ref().filter(|a| a.len() > 1) {
        return Err(ApiError::BadRequest(format!("Architectures takes one value, not {}", a.len())));
    }
    let (module, package) = unpack(&p, req.zip_file.as_deref())?;
    let opts = ops::code::UpdateCode { expected_revision: req.revision_id, publish: req.publish };
    let (f, _, version) = ops::code::update(&p, name, module, Some(&package), opts).await?;
    Ok(Json(match version {
        Some(v) => version_configuration(&p.config.aws, &v, f.code_size),
        None => latest_configuration(&p.config.aws, &f),
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct UpdateConfiguration {
    role: Option<String>,
    handler: Option<String>,
    runtime: Option<String>,
    description: Option<String>,
    timeout: Option<u32>,
    memory_size: Option<u32>,
    environment: Option<Environment>,
    revision_id: Option<String>,
}

pub async fn update_function_configuration(
    State(p): State<AppState>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let name = unqualified(&name)?;
    let req: UpdateConfiguration = json_body(body, SMALL).await?;
    let patch = FunctionConfigPatch {
        env: req.environment.map(|e| e.variables),
        memory_mb: req.memory_size,
        timeout_ms: timeout_ms(req.timeout)?,
        description: req.description,
        lambda: lambda_fields(req.role, req.handler, req.runtime),
        ..Default::default()
    };
    let f = ops::functions::update_config_checked(&p, name, patch, req.revision_id).await?;
    Ok(Json(latest_configuration(&p.config.aws, &f)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct PublishVersion {
    code_sha256: Option<String>,
    description: Option<String>,
    revision_id: Option<String>,
}

pub async fn publish_version(
    State(p): State<AppState>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let name = unqualified(&name)?;
    let req: PublishVersion = json_body(body, SMALL).await?;
    let input = ops::versions::Publish {
        expected_package_sha256: req.code_sha256,
        expected_revision: req.revision_id,
        description: req.description.unwrap_or_default(),
        ..Default::default()
    };
    let (v, _) = ops::versions::publish(&p, name, input).await?;
    Ok((StatusCode::CREATED, Json(version_configuration(&p.config.aws, &v, code_size(&p, &v)))))
}

pub async fn list_versions(
    State(p): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let name = unqualified(&name)?;
    let f = ops::functions::get(&p, name.clone()).await?;
    let versions = ops::versions::list(&p, name).await?;
    let aws = &p.config.aws;
    // `$LATEST` first, then the versions in order; the marker is a zero-padded number so
    // keys sort as the list does.
    let mut all: Vec<(String, Value)> = vec![(format!("{:010}", 0), {
        let mut c = latest_configuration(aws, &f);
        c["FunctionArn"] = json!(aws.function_arn(f.name.as_str(), Some("$LATEST")));
        c
    })];
    all.extend(
        versions.iter().map(|v| (format!("{:010}", v.version), version_configuration(aws, v, code_size(&p, v)))),
    );
    let (items, next) = page(all, |(k, _)| k.clone(), &q)?;
    let mut body = json!({ "Versions": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>() });
    if let Some(m) = next {
        body["NextMarker"] = json!(m);
    }
    Ok(Json(body))
}

// ---- aliases ----

fn alias_view(p: &AppState, a: &AliasRecord) -> Value {
    let view = crate::control::aliases::AliasView::new(p, a.clone());
    let mut body = json!({
        "AliasArn": p.config.aws.function_arn(a.function.as_str(), Some(a.name.as_str())),
        "Name": a.name,
        "FunctionVersion": a.version.to_string(),
        "Description": a.description,
        "RevisionId": a.revision_id,
    });
    let weights = view.routing();
    if !weights.is_empty() {
        body["RoutingConfig"] = json!({ "AdditionalVersionWeights": weights });
    }
    body
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct RoutingConfig {
    #[serde(default)]
    additional_version_weights: BTreeMap<String, f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct CreateAlias {
    name: String,
    function_version: String,
    description: Option<String>,
    routing_config: Option<RoutingConfig>,
}

pub async fn create_alias(
    State(p): State<AppState>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let name = unqualified(&name)?;
    let req: CreateAlias = json_body(body, SMALL).await?;
    let alias = AliasName::parse(&req.name)?;
    let input = ops::aliases::PutAlias {
        target: AliasTarget::parse(
            &req.function_version,
            req.routing_config.as_ref().map(|r| &r.additional_version_weights),
        )?,
        description: req.description,
        expected_revision: None,
        exists: Some(false),
    };
    let (rec, _) = ops::aliases::put(&p, name, alias, input).await?;
    Ok((StatusCode::CREATED, Json(alias_view(&p, &rec))))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct UpdateAlias {
    function_version: Option<String>,
    description: Option<String>,
    routing_config: Option<RoutingConfig>,
    revision_id: Option<String>,
}

pub async fn update_alias(
    State(p): State<AppState>,
    Path((name, alias)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let name = unqualified(&name)?;
    let alias = AliasName::parse(&alias)?;
    let req: UpdateAlias = json_body(body, SMALL).await?;
    // Fields left out keep their values (Lambda's UpdateAlias); they are filled from the
    // alias as read, and the write is conditional on that read, so a concurrent change is
    // never overwritten with stale values (412 instead).
    let current = ops::aliases::get(&p, name.clone(), alias.clone()).await?;
    let version = req.function_version.unwrap_or_else(|| current.version.to_string());
    let weights: BTreeMap<String, f64> = match req.routing_config {
        Some(r) => r.additional_version_weights,
        None => current.routing.map(|r| (r.version.to_string(), r.weight)).into_iter().collect(),
    };
    let input = ops::aliases::PutAlias {
        target: AliasTarget::parse(&version, Some(&weights))?,
        description: req.description,
        expected_revision: Some(req.revision_id.unwrap_or(current.revision_id)),
        exists: Some(true),
    };
    let (rec, _) = ops::aliases::put(&p, name, alias, input).await?;
    Ok(Json(alias_view(&p, &rec)))
}

pub async fn get_alias(
    State(p): State<AppState>,
    Path((name, alias)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let name = unqualified(&name)?;
    let rec = ops::aliases::get(&p, name, AliasName::parse(&alias)?).await?;
    Ok(Json(alias_view(&p, &rec)))
}

pub async fn delete_alias(
    State(p): State<AppState>,
    Path((name, alias)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let name = unqualified(&name)?;
    ops::aliases::delete(&p, name, AliasName::parse(&alias)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_aliases(
    State(p): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let name = unqualified(&name)?;
    let version = q.get("FunctionVersion").cloned();
    let list = ListQuery {
        marker: q.get("Marker").cloned(),
        max_items: q.get("MaxItems").cloned(),
        function_version: None,
        _master_region: None,
    };
    let all: Vec<AliasRecord> = ops::aliases::list(&p, name)
        .await?
        .into_iter()
        .filter(|a| version.as_deref().is_none_or(|v| a.version.to_string() == v))
        .collect();
    let (items, next) = page(all, |a| a.name.to_string(), &list)?;
    let mut body = json!({ "Aliases": items.iter().map(|a| alias_view(&p, a)).collect::<Vec<_>>() });
    if let Some(m) = next {
        body["NextMarker"] = json!(m);
    }
    Ok(Json(body))
}

// ---- resource policy ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct AddPermission {
    statement_id: String,
    action: String,
    principal: String,
    source_arn: Option<String>,
    source_account: Option<String>,
    revision_id: Option<String>,
}

const APIGATEWAY_PRINCIPAL: &str = "apigateway.amazonaws.com";

/// `arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH` → Waygate's principal
/// (`api:API` or `*`) and source (`API/STAGE/METHOD/PATH`).
fn source_of(aws: &AwsSettings, arn: Option<&str>) -> ApiResult<(String, String)> {
    let Some(arn) = arn else { return Ok(("*".into(), "*".into())) };
    let prefix = "arn:aws:execute-api:";
    let rest = arn.strip_prefix(prefix).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "SourceArn must be an API Gateway execute-api ARN (arn:aws:execute-api:{}:{}:API/STAGE/METHOD/PATH)",
            aws.region, aws.account_id
        ))
    })?;
    let mut parts = rest.splitn(3, ':');
    let (region, account, source) =
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !(region == aws.region || region == "*") || !(account == aws.account_id || account == "*") || source.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "SourceArn names region '{region}' and account '{account}': this endpoint is {} / {}",
            aws.region, aws.account_id
        )));
    }
    let api = source.split('/').next().unwrap_or("*");
    let principal = if api == "*" || api.is_empty() { "*".to_string() } else { format!("api:{api}") };
    Ok((principal, source.to_string()))
}

fn statement(aws: &AwsSettings, r: &PermissionRecord) -> Value {
    let mut s = json!({
        "Sid": r.statement_id,
        "Effect": "Allow",
        "Principal": { "Service": APIGATEWAY_PRINCIPAL },
        "Action": "lambda:InvokeFunction",
        "Resource": aws.function_arn(r.function.as_str(), r.qualifier.as_deref()),
    });
    if r.source != "*" {
        s["Condition"] = json!({ "ArnLike": { "AWS:SourceArn":
            format!("arn:aws:execute-api:{}:{}:{}", aws.region, aws.account_id, r.source) } });
    }
    s
}

pub async fn add_permission(
    State(p): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (name, from_name) = function_name(&name)?;
    let req: AddPermission = json_body(body, SMALL).await?;
    if !matches!(req.action.as_str(), "lambda:InvokeFunction" | "lambda:*") {
        return Err(ApiError::BadRequest(format!(
            "Action '{}' is not supported: Waygate's resource policies grant lambda:InvokeFunction",
            req.action.chars().take(64).collect::<String>()
        )));
    }
    if req.principal != APIGATEWAY_PRINCIPAL {
        return Err(ApiError::BadRequest(format!(
            "Principal '{}' is not supported: Waygate's resource policies grant invocation to API Gateway \
             ({APIGATEWAY_PRINCIPAL})",
            req.principal.chars().take(64).collect::<String>()
        )));
    }
    if req.source_account.as_ref().is_some_and(|a| *a != p.config.aws.account_id) {
        return Err(ApiError::BadRequest(format!("SourceAccount must be {}", p.config.aws.account_id)));
    }
    if req.revision_id.is_some() {
        return Err(ApiError::BadRequest("RevisionId is not supported by Waygate's AddPermission".into()));
    }
    let q = qualifier(from_name.as_deref(), q.qualifier.as_deref())?;
    let q = match q {
        Qualifier::Version(VersionId::Latest) if from_name.is_none() => None,
        other => Some(other.to_string()),
    };
    let (principal, source) = source_of(&p.config.aws, req.source_arn.as_deref())?;
    let input = ops::permissions::AddPermission {
        statement_id: req.statement_id,
        principal,
        source,
        qualifier: ops::permissions::policy_qualifier(q.as_deref())?,
    };
    let rec = ops::permissions::add(&p, name, input).await?;
    Ok((StatusCode::CREATED, Json(json!({ "Statement": statement(&p.config.aws, &rec).to_string() }))))
}

fn policy_qualifier(from_name: Option<&str>, query: Option<&str>) -> ApiResult<Option<String>> {
    let q = qualifier(from_name, query)?;
    match q {
        Qualifier::Version(VersionId::Latest) if from_name.is_none() && query.is_none() => Ok(None),
        other => Ok(ops::permissions::policy_qualifier(Some(&other.to_string()))?),
    }
}

pub async fn get_policy(
    State(p): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> ApiResult<Json<Value>> {
    let (name, from_name) = function_name(&name)?;
    let qualifier = policy_qualifier(from_name.as_deref(), q.qualifier.as_deref())?;
    let records = ops::permissions::list(&p, name.clone(), qualifier).await?;
    if records.is_empty() {
        return Err(ApiError::NotFound("The resource you requested does not exist.".into()));
    }
    let aws = &p.config.aws;
    let policy = json!({
        "Version": "2012-10-17",
        "Id": "default",
        "Statement": records.iter().map(|r| statement(aws, r)).collect::<Vec<_>>(),
    });
    let revision = crate::model::hash::blake3_hex(policy.to_string().as_bytes());
    Ok(Json(json!({ "Policy": policy.to_string(), "RevisionId": revision })))
}

pub async fn remove_permission(
    State(p): State<AppState>,
    Path((name, sid)): Path<(String, String)>,
    Query(q): Query<QualifierQuery>,
) -> ApiResult<StatusCode> {
    let (name, from_name) = function_name(&name)?;
    let qualifier = policy_qualifier(from_name.as_deref(), q.qualifier.as_deref())?;
    ops::permissions::remove(&p, name, qualifier, sid).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- concurrency ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct PutConcurrency {
    reserved_concurrent_executions: u32,
}

pub async fn put_concurrency(
    State(p): State<AppState>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let name = unqualified(&name)?;
    let req: PutConcurrency = json_body(body, SMALL).await?;
    let f = ops::functions::set_reserved_concurrency(&p, name, Some(req.reserved_concurrent_executions)).await?;
    Ok(Json(json!({ "ReservedConcurrentExecutions": f.reserved_concurrency })))
}

pub async fn get_concurrency(State(p): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let f = ops::functions::get(&p, unqualified(&name)?).await?;
    Ok(Json(match f.reserved_concurrency {
        Some(n) => json!({ "ReservedConcurrentExecutions": n }),
        None => json!({}),
    }))
}

pub async fn delete_concurrency(State(p): State<AppState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    ops::functions::set_reserved_concurrency(&p, unqualified(&name)?, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- invoke ----

/// The last 4 KB of an invocation's log lines (`LogType: Tail`), base64.
fn log_tail(p: &AppState, function: &FunctionName, request_id: &str) -> String {
    let text: String =
        p.observe.logs.of_request(function.as_str(), request_id).iter().map(|e| e.message() + "\n").collect();
    let bytes = text.as_bytes();
    let mut start = bytes.len().saturating_sub(4096);
    while start < bytes.len() && !text.is_char_boundary(start) {
        start += 1;
    }
    B64.encode(&bytes[start..])
}

pub async fn invoke(
    State(p): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (name, from_name) = function_name(&name)?;
    let qualifier = qualifier(from_name.as_deref(), q.qualifier.as_deref())?;
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let tail = match header("x-amz-log-type") {
        None | Some("None") => false,
        Some("Tail") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "Invalid LogType '{}': None or Tail",
                other.chars().take(20).collect::<String>()
            )))
        }
    };
    let payload = read_payload(&p, body).await?;
    match header("x-amz-invocation-type").unwrap_or("RequestResponse") {
        "RequestResponse" => {}
        "DryRun" => {
            // The caller may invoke (checked) and the qualifier resolves to runnable code.
            let snapshot = p.data_plane().snapshot();
            crate::invoke::resolve(&snapshot, &name, &qualifier)?;
            let mut r = StatusCode::NO_CONTENT.into_response();
            set(&mut r, "x-amzn-requestid", &request_id);
            return Ok(r);
        }
        "Event" => {
            crate::control::aws::events::enqueue(&p, name, qualifier, payload, &request_id)?;
            let mut r = StatusCode::ACCEPTED.into_response();
            set(&mut r, "x-amzn-requestid", &request_id);
            return Ok(r);
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "Invalid InvocationType '{}': RequestResponse, Event or DryRun",
                other.chars().take(40).collect::<String>()
            )))
        }
    }
    let done = execute(&p, &name, &qualifier, "default", None, payload, &request_id).await?;
    let mut resp = match &done.outcome.error {
        None => (StatusCode::OK, [("content-type", "application/json")], done.outcome.output.raw()).into_response(),
        Some(err) => {
            let mut r = (StatusCode::OK, Json(err)).into_response();
            r.headers_mut().insert("x-amz-function-error", HeaderValue::from_static("Unhandled"));
            r
        }
    };
    set(&mut resp, "x-amz-executed-version", &done.version);
    set(&mut resp, "x-amzn-requestid", &request_id);
    if tail {
        set(&mut resp, "x-amz-log-result", &log_tail(&p, &name, &request_id));
    }
    Ok(resp)
}

fn set(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}
