//! API Gateway's REST API (`/restapis…`) over Waygate's APIs, routes, deployments and
//! stages. Resources and methods map onto routes (`ops::resources`): a method with an
//! integration is a route; `AWS_PROXY` with a Lambda invocation URI is a function
//! integration (its qualifier may be `${stageVariables.alias}`), `MOCK` a mock and
//! `HTTP_PROXY` an HTTP proxy. A stage created here is the same stage `/v1` shows, served
//! at the same invoke URLs. Resource ids are derived from the API and the path (stable,
//! nothing to store); everything else is Waygate's own id.

use super::AwsSettings;
use crate::control::body::read_limited;
use crate::control::error::{ApiError, ApiResult};
use crate::control::AppState;
use crate::model::api::{ApiId, Integration, Method, StageName};
use crate::model::stage::{CacheSettings, CanaryPatch, ThrottleSettings};
use crate::ops;
use crate::ops::resources::Resource;
use crate::store::{ApiRecord, DeploymentRecord, RouteRecord, StageRecord};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const SMALL: usize = 1024 * 1024;

async fn json_body<T: serde::de::DeserializeOwned>(body: Body) -> ApiResult<T> {
    let bytes = read_limited(body, SMALL, "Request").await?;
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
    serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(format!("Invalid request body: {e}")))
}

fn api_id(s: &str) -> ApiResult<ApiId> {
    ApiId::parse(s).map_err(|_| {
        ApiError::NotFound(format!("Invalid API identifier specified {}", s.chars().take(64).collect::<String>()))
    })
}

/// API Gateway's timestamps: seconds since the epoch.
fn epoch(rfc3339: &str) -> Value {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map(|t| json!(t.unix_timestamp()))
        .unwrap_or(Value::Null)
}

/// A resource's id: 10 characters derived from the API and the path, so ids are stable
/// without being stored (and an id names one path).
pub fn resource_id(api: &ApiId, path: &str) -> String {
    crate::model::hash::blake3_hex(format!("{}\0{path}", api.as_str()).as_bytes())[..10].to_string()
}

fn rest_api_view(a: &ApiRecord) -> Value {
    let mut v = json!({
        "id": a.id,
        "name": a.name,
        "createdDate": epoch(&a.created_at),
        "apiKeySource": "HEADER",
        "endpointConfiguration": { "types": ["REGIONAL"] },
        "rootResourceId": resource_id(&a.id, "/"),
    });
    if !a.description.is_empty() {
        v["description"] = json!(a.description);
    }
    v
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateRestApi {
    name: String,
    #[serde(default)]
    description: String,
    endpoint_configuration: Option<Value>,
    api_key_source: Option<String>,
}

pub async fn create_rest_api(State(p): State<AppState>, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let req: CreateRestApi = json_body(body).await?;
    if req.api_key_source.as_deref().is_some_and(|s| s != "HEADER") {
        return Err(ApiError::BadRequest("apiKeySource must be HEADER".into()));
    }
    let _ = req.endpoint_configuration;
    let a = ops::apis::create(&p, req.name, req.description).await?;
    Ok((StatusCode::CREATED, Json(rest_api_view(&a))))
}

#[derive(Deserialize)]
pub struct PageQuery {
    limit: Option<String>,
    position: Option<String>,
    embed: Option<String>,
}

/// One page of `items` after `position` (the base64 key of the previous page's last
/// item): API Gateway's `limit` (1–500, default 25) and `position`.
fn page<T>(items: Vec<T>, key: impl Fn(&T) -> String, q: &PageQuery) -> ApiResult<(Vec<T>, Option<String>)> {
    let limit = match q.limit.as_deref() {
        None => 25,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| ApiError::BadRequest("limit must be between 1 and 500".into()))?,
    };
    let start = match q.position.as_deref().filter(|s| !s.is_empty()) {
        None => 0,
        Some(pos) => {
            let after =
                B64.decode(pos).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(|| {
                    ApiError::BadRequest("Invalid position: pass the previous page's position".into())
                })?;
            items.iter().position(|i| key(i) > after).unwrap_or(items.len())
        }
    };
    let rest: Vec<T> = items.into_iter().skip(start).collect();
    let more = rest.len() > limit;
    let page: Vec<T> = rest.into_iter().take(limit).collect();
    let next = more.then(|| page.last().map(|i| B64.encode(key(i)))).flatten();
    Ok((page, next))
}

fn items(key: &str, values: Vec<Value>, position: Option<String>) -> Json<Value> {
    let mut v = json!({ key: values });
    if let Some(pos) = position {
        v["position"] = json!(pos);
    }
    Json(v)
}

pub async fn get_rest_apis(State(p): State<AppState>, Query(q): Query<PageQuery>) -> ApiResult<Json<Value>> {
    let apis = ops::apis::list(&p).await?;
    let (apis, next) = page(apis, |a| a.id.to_string(), &q)?;
    Ok(items("item", apis.iter().map(rest_api_view).collect(), next))
}

pub async fn get_rest_api(State(p): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(rest_api_view(&ops::apis::get(&p, api_id(&id)?).await?)))
}

pub async fn delete_rest_api(State(p): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    ops::apis::delete(&p, api_id(&id)?).await?;
    Ok(StatusCode::ACCEPTED)
}

// ---- resources, methods, integrations ----

/// The Lambda invocation URI of a function target (`NAME[:QUALIFIER]`, which may hold
/// `${stageVariables.x}`).
fn lambda_uri(aws: &AwsSettings, target: &str) -> String {
    format!(
        "arn:aws:apigateway:{}:lambda:path/2015-03-31/functions/arn:aws:lambda:{}:{}:function:{target}/invocations",
        aws.region, aws.region, aws.account_id
    )
}

fn integration_view(aws: &AwsSettings, api: &ApiId, r: &RouteRecord) -> Value {
    let mut v = match &r.integration {
        Integration::Function { target, timeout_ms } => json!({
            "type": "AWS_PROXY",
            "httpMethod": "POST",
            "uri": lambda_uri(aws, target),
            "timeoutInMillis": timeout_ms.unwrap_or(crate::model::api::MAX_INTEGRATION_TIMEOUT_MS),
            "passthroughBehavior": "WHEN_NO_MATCH",
        }),
        Integration::HttpProxy { url, timeout_ms } => json!({
            "type": "HTTP_PROXY",
            "httpMethod": r.method.as_str(),
            "uri": url,
            "connectionType": "INTERNET",
            "timeoutInMillis": timeout_ms.unwrap_or(crate::model::api::MAX_INTEGRATION_TIMEOUT_MS),
            "passthroughBehavior": "WHEN_NO_MATCH",
        }),
        Integration::Mock { status, .. } => json!({
            "type": "MOCK",
            "requestTemplates": { "application/json": format!("{{\"statusCode\": {status}}}") },
            "timeoutInMillis": crate::model::api::MAX_INTEGRATION_TIMEOUT_MS,
            "passthroughBehavior": "WHEN_NO_MATCH",
        }),
    };
    v["cacheNamespace"] = json!(resource_id(api, r.path.as_str()));
    v["cacheKeyParameters"] = json!([]);
    v
}

fn method_view(aws: &AwsSettings, api: &ApiId, method: Method, route: Option<&RouteRecord>) -> Value {
    let mut v = json!({ "httpMethod": method.as_str(), "authorizationType": "NONE", "apiKeyRequired": false });
    if let Some(r) = route {
        v["methodIntegration"] = integration_view(aws, api, r);
    }
    v
}

fn resource_view(aws: &AwsSettings, api: &ApiId, r: &Resource, embed: bool) -> Value {
    let mut v = Map::new();
    v.insert("id".into(), json!(resource_id(api, &r.path)));
    if r.path != "/" {
        v.insert("parentId".into(), json!(resource_id(api, &ops::resources::parent(&r.path))));
        v.insert("pathPart".into(), json!(r.path.rsplit('/').next().unwrap_or("")));
    }
    v.insert("path".into(), json!(r.path));
    if !r.methods.is_empty() {
        let methods: Map<String, Value> = r
            .methods
            .iter()
            .map(|(m, route)| {
                let shown = if embed { method_view(aws, api, *m, route.as_ref()) } else { json!({}) };
                (m.as_str().to_string(), shown)
            })
            .collect();
        v.insert("resourceMethods".into(), Value::Object(methods));
    }
    Value::Object(v)
}

/// The path of resource `rid` of API `id`.
async fn resource_path(p: &AppState, id: &ApiId, rid: &str) -> ApiResult<(String, Resource)> {
    let all = ops::resources::list(p, id.clone()).await?;
    all.into_iter()
        .find(|(path, _)| resource_id(id, path) == rid)
        .ok_or_else(|| ApiError::NotFound("Invalid Resource identifier specified".into()))
}

pub async fn get_resources(
    State(p): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let id = api_id(&id)?;
    let embed = q.embed.as_deref() == Some("methods");
    let all: Vec<Resource> = ops::resources::list(&p, id.clone()).await?.into_values().collect();
    let (page, next) = page(all, |r| r.path.clone(), &q)?;
    Ok(items("item", page.iter().map(|r| resource_view(&p.config.aws, &id, r, embed)).collect(), next))
}

pub async fn get_resource(
    State(p): State<AppState>,
    Path((id, rid)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let id = api_id(&id)?;
    let (_, r) = resource_path(&p, &id, &rid).await?;
    Ok(Json(resource_view(&p.config.aws, &id, &r, true)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateResource {
    path_part: String,
}

pub async fn create_resource(
    State(p): State<AppState>,
    Path((id, parent)): Path<(String, String)>,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = api_id(&id)?;
    let req: CreateResource = json_body(body).await?;
    let (parent_path, _) = resource_path(&p, &id, &parent).await?;
    let r = ops::resources::create(&p, id.clone(), parent_path, req.path_part).await?;
    Ok((StatusCode::CREATED, Json(resource_view(&p.config.aws, &id, &r, false))))
}

pub async fn delete_resource(
    State(p): State<AppState>,
    Path((id, rid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = api_id(&id)?;
    let (path, _) = resource_path(&p, &id, &rid).await?;
    ops::resources::delete(&p, id, path).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PutMethod {
    authorization_type: String,
    #[serde(default)]
    api_key_required: bool,
    request_parameters: Option<HashMap<String, bool>>,
}

fn http_method(s: &str) -> ApiResult<Method> {
    Method::parse(s).map_err(|_| ApiError::NotFound("Invalid Method identifier specified".into()))
}

pub async fn put_method(
    State(p): State<AppState>,
    Path((id, rid, method)): Path<(String, String, String)>,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = api_id(&id)?;
    let method = http_method(&method)?;
    let req: PutMethod = json_body(body).await?;
    if req.authorization_type != "NONE" {
        return Err(ApiError::BadRequest(format!(
            "authorizationType '{}' is not supported: Waygate's methods are NONE (access to the management \
             side is by keys; resource policies decide which APIs may invoke a function)",
            req.authorization_type.chars().take(32).collect::<String>()
        )));
    }
    if req.api_key_required {
        return Err(ApiError::BadRequest("apiKeyRequired is not supported by Waygate".into()));
    }
    if req.request_parameters.is_some_and(|m| !m.is_empty()) {
        return Err(ApiError::BadRequest("requestParameters are not supported by Waygate".into()));
    }
    let (path, _) = resource_path(&p, &id, &rid).await?;
    let r = ops::resources::put_method(&p, id.clone(), path, method).await?;
    let route = r.methods.get(&method).cloned().flatten();
    Ok((StatusCode::CREATED, Json(method_view(&p.config.aws, &id, method, route.as_ref()))))
}

pub async fn get_method(
    State(p): State<AppState>,
    Path((id, rid, method)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let id = api_id(&id)?;
    let method = http_method(&method)?;
    let (_, r) = resource_path(&p, &id, &rid).await?;
    let route =
        r.methods.get(&method).ok_or_else(|| ApiError::NotFound("Invalid Method identifier specified".into()))?;
    Ok(Json(method_view(&p.config.aws, &id, method, route.as_ref())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PutIntegration {
    #[serde(rename = "type")]
    kind: String,
    http_method: Option<String>,
    uri: Option<String>,
    timeout_in_millis: Option<u32>,
    request_templates: Option<BTreeMap<String, String>>,
    passthrough_behavior: Option<String>,
    connection_type: Option<String>,
    cache_key_parameters: Option<Vec<String>>,
    cache_namespace: Option<String>,
}

/// `arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/FUNCTION_ARN/invocations`
/// → the function target `NAME[:QUALIFIER]`.
fn target_of(aws: &AwsSettings, uri: &str) -> ApiResult<String> {
    let bad = || {
        ApiError::BadRequest(format!(
            "Invalid Lambda function URI '{}': expected arn:aws:apigateway:{}:lambda:path/2015-03-31/functions/\
             arn:aws:lambda:{}:{}:function:NAME[:QUALIFIER]/invocations",
            uri.chars().take(300).collect::<String>(),
            aws.region,
            aws.region,
            aws.account_id
        ))
    };
    let rest = uri
        .strip_prefix(&format!("arn:aws:apigateway:{}:lambda:path/2015-03-31/functions/", aws.region))
        .ok_or_else(bad)?;
    let function = rest.strip_suffix("/invocations").ok_or_else(bad)?;
    let own = format!("arn:aws:lambda:{}:{}:function:", aws.region, aws.account_id);
    if function.starts_with("arn:") && !function.starts_with(&own) {
        return Err(bad());
    }
    let target = super::unarn(function);
    if target.is_empty() || target.starts_with("arn:") || target.contains('/') {
        return Err(bad());
    }
    Ok(target.to_string())
}

pub async fn put_integration(
    State(p): State<AppState>,
    Path((id, rid, method)): Path<(String, String, String)>,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = api_id(&id)?;
    let method = http_method(&method)?;
    let req: PutIntegration = json_body(body).await?;
    if req.cache_key_parameters.as_ref().is_some_and(|c| !c.is_empty()) {
        return Err(ApiError::BadRequest(
            "cacheKeyParameters are not supported: Waygate keys its cache by path, query and the stage's key headers"
                .into(),
        ));
    }
    let _ = (req.cache_namespace, req.passthrough_behavior);
    if req.connection_type.as_deref().is_some_and(|c| c != "INTERNET") {
        return Err(ApiError::BadRequest("connectionType must be INTERNET".into()));
    }
    let uri =
        || req.uri.clone().ok_or_else(|| ApiError::BadRequest("uri is required for this integration type".into()));
    let integration = match req.kind.as_str() {
        "AWS_PROXY" => {
            if req.http_method.as_deref() != Some("POST") {
                return Err(ApiError::BadRequest(
                    "Lambda proxy integrations call the function with POST: set the integration's httpMethod to POST"
                        .into(),
                ));
            }
            Integration::Function { target: target_of(&p.config.aws, &uri()?)?, timeout_ms: req.timeout_in_millis }
        }
        "HTTP_PROXY" => Integration::HttpProxy { url: uri()?, timeout_ms: req.timeout_in_millis },
        "MOCK" => {
            let status = match req.request_templates.as_ref().and_then(|t| t.get("application/json")) {
                None => 200,
                Some(t) => serde_json::from_str::<Value>(t)
                    .ok()
                    .and_then(|v| v.get("statusCode").and_then(Value::as_u64))
                    .and_then(|s| u16::try_from(s).ok())
                    .ok_or_else(|| {
                        ApiError::BadRequest("A MOCK integration's request template must be {\"statusCode\": N}".into())
                    })?,
            };
            Integration::Mock { status, body: String::new(), headers: BTreeMap::new() }
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "Integration type '{}' is not supported: AWS_PROXY, HTTP_PROXY or MOCK",
                other.chars().take(32).collect::<String>()
            )))
        }
    };
    let (path, _) = resource_path(&p, &id, &rid).await?;
    let route = ops::resources::put_integration(&p, id.clone(), path, method, integration).await?;
    Ok((StatusCode::CREATED, Json(integration_view(&p.config.aws, &id, &route))))
}

pub async fn get_integration(
    State(p): State<AppState>,
    Path((id, rid, method)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let id = api_id(&id)?;
    let method = http_method(&method)?;
    let (_, r) = resource_path(&p, &id, &rid).await?;
    match r.methods.get(&method) {
        Some(Some(route)) => Ok(Json(integration_view(&p.config.aws, &id, route))),
        Some(None) => Err(ApiError::NotFound("Invalid Integration identifier specified".into())),
        None => Err(ApiError::NotFound("Invalid Method identifier specified".into())),
    }
}

// ---- deployments ----

fn deployment_view(d: &DeploymentRecord) -> Value {
    let mut v = json!({ "id": d.id, "createdDate": epoch(&d.created_at) });
    if !d.description.is_empty() {
        v["description"] = json!(d.description);
    }
    v
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CanarySettingsInput {
    percent_traffic: Option<f64>,
    #[serde(default)]
    stage_variable_overrides: Option<BTreeMap<String, String>>,
    use_stage_cache: Option<bool>,
    deployment_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateDeployment {
    stage_name: Option<String>,
    stage_description: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    canary_settings: Option<CanarySettingsInput>,
    cache_cluster_enabled: Option<bool>,
    tracing_enabled: Option<bool>,
}

pub async fn create_deployment(
    State(p): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = api_id(&id)?;
    let req: CreateDeployment = json_body(body).await?;
    if req.cache_cluster_enabled.is_some() || req.tracing_enabled == Some(true) {
        return Err(ApiError::BadRequest(
            "cacheClusterEnabled and tracingEnabled are stage settings here: set them with UpdateStage".into(),
        ));
    }
    let stage = req.stage_name.as_deref().filter(|s| !s.is_empty()).map(StageName::parse).transpose()?;
    let canary = req.canary_settings.map(|c| CanaryPatch {
        percent_traffic: c.percent_traffic,
        deployment_id: c.deployment_id,
        stage_variable_overrides: c.stage_variable_overrides,
        use_stage_cache: c.use_stage_cache,
    });
    let input = ops::deployments::Deploy {
        description: req.description,
        stage,
        canary,
        variables: req.variables,
        stage_description: req.stage_description,
    };
    let (d, _) = ops::deployments::create(&p, id, input).await?;
    Ok((StatusCode::CREATED, Json(deployment_view(&d))))
}

pub async fn get_deployments(
    State(p): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let list = ops::deployments::list(&p, api_id(&id)?).await?;
    let (list, next) = page(list, |d| format!("{}{}", d.created_at, d.id), &q)?;
    Ok(items("item", list.iter().map(deployment_view).collect(), next))
}

// ---- stages ----

fn stage_view(s: &StageRecord) -> Value {
    let mut settings = json!({
        "cachingEnabled": s.cache.enabled,
        "cacheTtlInSeconds": s.cache.ttl_seconds,
        "requireAuthorizationForCacheControl": s.cache.require_authorization,
        "metricsEnabled": false,
        "dataTraceEnabled": false,
    });
    if let Some(r) = s.throttle.rate_per_second {
        settings["throttlingRateLimit"] = json!(r);
    }
    if let Some(b) = s.throttle.burst {
        settings["throttlingBurstLimit"] = json!(b);
    }
    let mut v = json!({
        "stageName": s.name,
        "deploymentId": s.deployment_id,
        "cacheClusterEnabled": s.cache.enabled,
        "cacheClusterStatus": if s.cache.enabled { "AVAILABLE" } else { "NOT_AVAILABLE" },
        "methodSettings": { "*/*": settings },
        "tracingEnabled": false,
        "createdDate": epoch(&s.created_at),
        "lastUpdatedDate": epoch(&s.updated_at),
    });
    if !s.description.is_empty() {
        v["description"] = json!(s.description);
    }
    if !s.variables.is_empty() {
        v["variables"] = json!(s.variables);
    }
    if let Some(c) = &s.canary {
        v["canarySettings"] = json!({
            "percentTraffic": c.percent_traffic,
            "deploymentId": c.deployment_id,
            "stageVariableOverrides": c.stage_variable_overrides,
            "useStageCache": c.use_stage_cache,
        });
    }
    v
}

fn stage_name(s: &str) -> ApiResult<StageName> {
    StageName::parse(s).map_err(|_| ApiError::NotFound("Invalid stage identifier specified".into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateStage {
    stage_name: String,
    deployment_id: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    cache_cluster_enabled: Option<bool>,
    tracing_enabled: Option<bool>,
}

pub async fn create_stage(
    State(p): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = api_id(&id)?;
    let req: CreateStage = json_body(body).await?;
    if req.cache_cluster_enabled.is_some() || req.tracing_enabled == Some(true) {
        return Err(ApiError::BadRequest(
            "cacheClusterEnabled and tracingEnabled are set with UpdateStage (/cacheClusterEnabled)".into(),
        ));
    }
    let name = StageName::parse(&req.stage_name)?;
    let input = ops::stages::PutStage {
        deployment_id: req.deployment_id,
        variables: req.variables,
        description: req.description,
        secret_environment: None,
    };
    let s = ops::stages::create(&p, id, name, input).await?;
    Ok((StatusCode::CREATED, Json(stage_view(&s))))
}

pub async fn get_stage(State(p): State<AppState>, Path((id, stage)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    let s = ops::stages::get(&p, api_id(&id)?, stage_name(&stage)?).await?;
    Ok(Json(stage_view(&s)))
}

pub async fn get_stages(State(p): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let list = ops::stages::list(&p, api_id(&id)?).await?;
    Ok(Json(json!({ "item": list.iter().map(stage_view).collect::<Vec<_>>() })))
}

pub async fn delete_stage(
    State(p): State<AppState>,
    Path((id, stage)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    ops::stages::delete(&p, api_id(&id)?, stage_name(&stage)?).await?;
    Ok(StatusCode::ACCEPTED)
}

pub async fn flush_stage_cache(
    State(p): State<AppState>,
    Path((id, stage)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    ops::stages::flush_cache(&p, api_id(&id)?, stage_name(&stage)?).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchOperation {
    op: String,
    path: String,
    value: Option<String>,
    from: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateStage {
    #[serde(default)]
    patch_operations: Vec<PatchOperation>,
}

/// JSON Pointer's escapes in a patch path segment (`~1` is `/`, `~0` is `~`).
fn unescape(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

/// What an UpdateStage request does: a promotion (API Gateway's copy of the canary's
/// deployment onto the stage), or one stage patch.
enum StageChange {
    /// `remove`: the request also removes the canary (`remove /canarySettings`).
    Promote {
        remove: bool,
    },
    RemoveCanary,
    Patch(Box<ops::stages::StagePatch>),
}

fn stage_change(current: &StageRecord, ops_list: Vec<PatchOperation>) -> ApiResult<StageChange> {
    let bad = |o: &PatchOperation, why: &str| {
        ApiError::BadRequest(format!(
            "Invalid patch operation {} {}: {why}",
            o.op.chars().take(16).collect::<String>(),
            o.path.chars().take(200).collect::<String>()
        ))
    };
    let is_promote = |o: &PatchOperation| {
        o.op == "copy" && o.from.as_deref() == Some("/canarySettings/deploymentId") && o.path == "/deploymentId"
    };
    if ops_list.iter().any(is_promote) {
        // The promotion as the console and CLI send it: the deployment, the overrides
        // copied onto the variables, the canary removed. Waygate's promotion does all three.
        for o in &ops_list {
            let part_of_it = is_promote(o)
                || (o.op == "copy"
                    && o.from.as_deref() == Some("/canarySettings/stageVariableOverrides")
                    && o.path == "/variables")
                || (o.op == "remove" && o.path == "/canarySettings");
            if !part_of_it {
                return Err(bad(o, "a promotion can't be combined with other changes; send them in another request"));
            }
        }
        let remove = ops_list.iter().any(|o| o.op == "remove" && o.path == "/canarySettings");
        return Ok(StageChange::Promote { remove });
    }
    if ops_list.len() == 1 && ops_list[0].op == "remove" && ops_list[0].path == "/canarySettings" {
        return Ok(StageChange::RemoveCanary);
    }
    let mut patch = ops::stages::StagePatch::default();
    let mut cache: Option<CacheSettings> = None;
    let mut throttle: Option<ThrottleSettings> = None;
    let mut canary: Option<CanaryPatch> = None;
    let mut overrides: Option<BTreeMap<String, String>> = None;
    for o in &ops_list {
        let value = || o.value.clone().ok_or_else(|| bad(o, "a value is required"));
        let number = |what: &str| -> ApiResult<f64> {
            value()?
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .ok_or_else(|| bad(o, &format!("{what} must be a number")))
        };
        let boolean = || -> ApiResult<bool> {
            match value()?.as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(bad(o, "the value must be true or false")),
            }
        };
        let set_or_remove = match o.op.as_str() {
            "replace" | "add" => true,
            "remove" => false,
            _ => return Err(bad(o, "the operation must be replace, add or remove here")),
        };
        let path = o.path.as_str();
        if let Some(name) = path.strip_prefix("/variables/") {
            let name = unescape(name);
            patch.variables.insert(name, if set_or_remove { Some(value()?) } else { None });
        } else if let Some(name) = path.strip_prefix("/canarySettings/stageVariableOverrides/") {
            let map = overrides.get_or_insert_with(|| {
                current.canary.as_ref().map(|c| c.stage_variable_overrides.clone()).unwrap_or_default()
            });
            if set_or_remove {
                map.insert(unescape(name), value()?);
            } else {
                map.remove(&unescape(name));
            }
        } else {
            let c = || canary.clone().unwrap_or_default();
            let cache_now = || cache.clone().unwrap_or_else(|| current.cache.clone());
            let throttle_now = || throttle.clone().unwrap_or_else(|| current.throttle.clone());
            match (path, set_or_remove) {
                ("/deploymentId", true) => patch.deployment_id = Some(value()?),
                ("/description", true) => patch.description = Some(value()?),
                ("/description", false) => patch.description = Some(String::new()),
                ("/canarySettings/percentTraffic", true) => {
                    canary = Some(CanaryPatch { percent_traffic: Some(number("percentTraffic")?), ..c() })
                }
                ("/canarySettings/deploymentId", true) => {
                    canary = Some(CanaryPatch { deployment_id: Some(value()?), ..c() })
                }
                ("/canarySettings/useStageCache", true) => {
                    canary = Some(CanaryPatch { use_stage_cache: Some(boolean()?), ..c() })
                }
                ("/cacheClusterEnabled" | "/*/*/caching/enabled", true) => {
                    cache = Some(CacheSettings { enabled: boolean()?, ..cache_now() })
                }
                ("/*/*/caching/ttlInSeconds", true) => {
                    let ttl = number("ttlInSeconds")?;
                    if ttl < 0.0 || ttl.fract() != 0.0 || ttl > u32::MAX as f64 {
                        return Err(bad(o, "ttlInSeconds must be a whole number of seconds"));
                    }
                    cache = Some(CacheSettings { ttl_seconds: ttl as u32, ..cache_now() })
                }
                ("/*/*/caching/requireAuthorizationForCacheControl", true) => {
                    cache = Some(CacheSettings { require_authorization: boolean()?, ..cache_now() })
                }
                ("/*/*/throttling/rateLimit", true) => {
                    throttle = Some(ThrottleSettings { rate_per_second: Some(number("rateLimit")?), ..throttle_now() })
                }
                ("/*/*/throttling/rateLimit", false) => {
                    throttle = Some(ThrottleSettings { rate_per_second: None, ..throttle_now() })
                }
                ("/*/*/throttling/burstLimit", true) => {
                    let burst = number("burstLimit")?;
                    if burst < 0.0 || burst.fract() != 0.0 || burst > u32::MAX as f64 {
                        return Err(bad(o, "burstLimit must be a whole number"));
                    }
                    throttle = Some(ThrottleSettings { burst: Some(burst as u32), ..throttle_now() })
                }
                ("/*/*/throttling/burstLimit", false) => {
                    throttle = Some(ThrottleSettings { burst: None, ..throttle_now() })
                }
                _ => {
                    return Err(bad(
                        o,
                        "not a supported path: /variables/NAME, /deploymentId, /description, \
                         /canarySettings/{percentTraffic,deploymentId,useStageCache,stageVariableOverrides/NAME}, \
                         /cacheClusterEnabled, /*/*/caching/{enabled,ttlInSeconds,requireAuthorizationForCacheControl}, \
                         /*/*/throttling/{rateLimit,burstLimit}",
                    ))
                }
            }
        }
    }
    if let Some(map) = overrides {
        canary = Some(CanaryPatch { stage_variable_overrides: Some(map), ..canary.unwrap_or_default() });
    }
    patch.cache = cache;
    patch.throttle = throttle;
    patch.canary = canary;
    Ok(StageChange::Patch(Box::new(patch)))
}

pub async fn update_stage(
    State(p): State<AppState>,
    Path((id, stage)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let (id, name) = (api_id(&id)?, stage_name(&stage)?);
    let req: UpdateStage = json_body(body).await?;
    let current = ops::stages::get(&p, id.clone(), name.clone()).await?;
    let s = match stage_change(&current, req.patch_operations)? {
        // Promotion leaves the canary at 0 % (as the console's Promote does); with `remove
        // /canarySettings` in the same request it goes in the same transaction.
        StageChange::Promote { remove } => ops::stages::promote(&p, id, name, remove).await?,
        StageChange::RemoveCanary => ops::stages::remove_canary(&p, id, name).await?,
        StageChange::Patch(patch) => ops::stages::patch(&p, id, name, *patch).await?,
    };
    Ok(Json(stage_view(&s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_uris_name_function_targets() {
        let aws = AwsSettings::default();
        let uri = lambda_uri(&aws, "orders:${stageVariables.alias}");
        assert_eq!(target_of(&aws, &uri).unwrap(), "orders:${stageVariables.alias}");
        assert!(target_of(&aws, "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/x/invocations").is_err());
        let other_account = uri.replace("000000000000", "111111111111");
        assert!(target_of(&aws, &other_account).is_err());
        assert!(target_of(&aws, &uri.replace("/invocations", "")).is_err());
    }

    #[test]
    fn resource_ids_are_stable_and_distinct() {
        let api = ApiId::parse("abcdefghij").unwrap();
        assert_eq!(resource_id(&api, "/"), resource_id(&api, "/"));
        assert_ne!(resource_id(&api, "/"), resource_id(&api, "/a"));
        assert_eq!(resource_id(&api, "/a").len(), 10);
    }
}
