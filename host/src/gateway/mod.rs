//! The data plane's HTTP front: API Gateway REST semantics over the routing snapshot.
//! A request walks: [`listener`] (which API and stage) → [`stage`] (snapshot lookup) →
//! [`canary`] (which side serves) → [`route`] (matcher) → [`throttle`] → [`cache`] (a hit
//! ends here) → [`integration`] (pre-resolved target + permission) → the code's executor
//! encodes the request ([`crate::runtime::executor`]; for stdio guests the proxy event) →
//! [`crate::invoke`] (alias → version → fresh instance) → the executor's answer as HTTP
//! (for stdio: the proxy response rules) → cache store. It never touches the database.

pub mod cache;
pub mod canary;
pub mod error;
pub mod http_proxy;
pub mod integration;
pub mod listener;
pub mod route;
pub mod stage;
pub mod throttle;

use crate::body_limit::BodyError;
use crate::data_plane::DataPlane;
use crate::invoke::{self, CallContext};
use crate::model::api::Method;
use crate::observe::Ms;
use crate::runtime::executor::{self, EncodeError};
use crate::runtime::{GatewayRequest, GuestRequest, InvokeError};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use error::GatewayError;
use integration::ResolvedIntegration;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Largest request body the gateway reads (API Gateway's payload limit). The event built
/// from it must still fit the function's payload limit (6 MB).
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

/// Longest request URI (path and query) the gateway takes: CloudFront's, in front of
/// API Gateway, is 8,192 bytes. Checked here, below hyper's own bound (≈ 64 KiB, answered
/// with an empty-bodied 414), so the client gets the JSON error shape.
pub const MAX_URI_BYTES: usize = 8192;

/// Largest request line + headers (API Gateway's quota: 10,240 bytes). Below hyper's own
/// head buffer (≈ 400 KiB; it also refuses more than 100 headers, with an empty-bodied 431).
pub const MAX_HEAD_BYTES: usize = 10_240;

/// The gateway router, shared by `waygate up` and the tests.
pub fn app(data_plane: Arc<DataPlane>) -> Router {
    Router::new().fallback(handle).with_state(data_plane)
}

async fn handle(State(p): State<Arc<DataPlane>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut side = None;
    let mut r = match serve(&p, peer, req, &request_id, started, &mut side).await {
        Ok(r) => r,
        Err(e) => e.into_response_with_id(&request_id),
    };
    if let Some((stage, canary)) = side {
        r.headers_mut().insert("x-waygate-canary", HeaderValue::from_static(if canary { "true" } else { "false" }));
        let serving = match &stage.canary {
            Some(c) if canary => &c.serving,
            _ => &stage.main,
        };
        let status = r.status().as_u16();
        serving.metrics.record(status, r.headers().get("x-waygate-cache").map(HeaderValue::as_bytes));
        // Canary traffic logs under its own target, so it can be filtered apart.
        let (api, name, deployment) = (&stage.api_id, &stage.name, serving.deployment.id.as_str());
        if canary {
            tracing::info!(target: "waygate::gateway::canary", api, stage = name, deployment, status, request_id, "request");
        } else {
            tracing::info!(target: "waygate::gateway::stage", api, stage = name, deployment, status, request_id, "request");
        }
    }
    r
}

/// What the integration produced, before it becomes a response (and maybe a cache entry).
struct Produced {
    status: StatusCode,
    headers: Vec<(http::HeaderName, HeaderValue)>,
    body: http_proxy::AnswerBody,
    version: Option<String>,
    timing: String,
}

async fn serve(
    p: &Arc<DataPlane>,
    peer: SocketAddr,
    req: Request,
    request_id: &str,
    started: Instant,
    side: &mut Option<(Arc<stage::StageSnapshot>, bool)>,
) -> Result<Response, GatewayError> {
    let (parts, body) = req.into_parts();
    let uri_len = parts.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return Err(GatewayError::UriTooLong);
    }
    // Names and values of all headers: the head limit here, the event buffer's size later.
    let header_bytes: usize = parts.headers.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    let head_len = parts.method.as_str().len() + uri_len + header_bytes + 4 * parts.headers.len();
    if head_len > MAX_HEAD_BYTES {
        return Err(GatewayError::HeadersTooLarge);
    }
    let host = parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok());
    // Dot segments are removed before anything reads the path, so `/api/dev/../x` means
    // what a browser would send for it and no route or parameter ever sees `..`.
    let path = listener::remove_dot_segments(parts.uri.path());
    let target = listener::locate(host, &path).ok_or(GatewayError::Forbidden)?;
    let snapshot = p.snapshot();
    let stage = snapshot.gateway.stage(target.api, target.stage).ok_or(GatewayError::Forbidden)?;
    let (serving, is_canary) = canary::pick(stage, &mut rand::rng());
    *side = Some((stage.clone(), is_canary));
    let method = Method::from_http(&parts.method).ok_or(GatewayError::MissingAuthenticationToken)?;
    let found = serving.deployment.table.find(method, target.path).ok_or(GatewayError::MissingAuthenticationToken)?;
    // Encoded slashes (`..%2F..`) survive dot-segment removal and decode into `../..`: a
    // function reading its path parameters as a path must never get one.
    if found.params.iter().any(|(_, v)| listener::decodes_to_dot_segment(v)) {
        return Err(GatewayError::BadRequest);
    }
    // After the route match: a route's own limit replaces the stage's (API Gateway's method
    // throttling); matching is a trie walk, so nothing costly runs before this.
    if serving.throttles[found.route].as_ref().is_some_and(|b| !b.admit()) {
        // debug: a flood of throttled requests must not become a flood of log lines
        // (the stage metrics count them).
        tracing::debug!(api = %stage.api_id, stage = %stage.name, canary = is_canary, request_id, "throttled");
        p.observe.metrics.stage_throttle(&stage.api_id, &stage.name);
        return Err(GatewayError::TooManyRequests);
    }
    let route_time = started.elapsed();
    let deployment_id = &serving.deployment.id;

    let lookup = cache::lookup(
        &p.live.cache,
        &snapshot.access,
        stage,
        serving,
        found.route,
        method,
        &parts.headers,
        target.path,
        parts.uri.query(),
    )?;
    let (cache_status, warn) = match lookup {
        cache::Lookup::Hit { response, warn } => {
            p.observe.metrics.cache_hit(&stage.api_id, &stage.name);
            let mut r = (response.status, Body::from(response.body.clone())).into_response();
            for (k, v) in &response.headers {
                r.headers_mut().append(k.clone(), v.clone());
            }
            let timing = format!("route;dur={}, cache;desc=hit, total;dur={}", Ms(route_time), Ms(started.elapsed()));
            let r = decorate(r, request_id, deployment_id, None, &timing);
            return Ok(cache_headers(r, "hit", warn));
        }
        cache::Lookup::Off => (None, false),
        cache::Lookup::Bypass => (Some("bypass"), false),
        cache::Lookup::Fetch { status, warn, .. } => {
            p.observe.metrics.cache_miss(&stage.api_id, &stage.name);
            (Some(status), warn)
        }
    };
    let ctx = Ctx {
        stage,
        serving,
        is_canary,
        route: &found,
        target_path: target.path,
        host,
        peer,
        request_id,
        header_bytes,
    };
    let buffer = matches!(lookup, cache::Lookup::Fetch { .. });
    let produced = integrate(p, &snapshot, &parts, body, ctx, method, started, route_time, buffer).await?;
    let body = match produced.body {
        http_proxy::AnswerBody::Full(body) => {
            if let cache::Lookup::Fetch { key, ttl, max_bytes, .. } =
                lookup.filter_cacheable(produced.status, body.len())
            {
                let entry = cache::CachedResponse {
                    status: produced.status,
                    headers: produced.headers.clone(),
                    body: body.clone(),
                    ttl,
                };
                cache::store(&p.live.cache, key, ttl, max_bytes, entry);
            }
            Body::from(body)
        }
        // Only when the route isn't cached (else the proxy reads the whole body).
        http_proxy::AnswerBody::Stream(body) => body,
    };
    let mut r = (produced.status, body).into_response();
    for (k, v) in produced.headers {
        r.headers_mut().append(k, v);
    }
    let r = decorate(r, request_id, deployment_id, produced.version.as_deref(), &produced.timing);
    Ok(match cache_status {
        Some(s) => cache_headers(r, s, warn),
        None => r,
    })
}

fn cache_headers(mut r: Response, status: &'static str, warn: bool) -> Response {
    r.headers_mut().insert("x-waygate-cache", HeaderValue::from_static(status));
    if warn {
        r.headers_mut().insert(http::header::WARNING, HeaderValue::from_static(cache::WARNING));
    }
    r
}

/// Where the request is going, as decided before the integration runs.
struct Ctx<'a> {
    stage: &'a stage::StageSnapshot,
    serving: &'a stage::Serving,
    is_canary: bool,
    route: &'a route::RouteMatch<'a>,
    target_path: &'a str,
    host: Option<&'a str>,
    peer: SocketAddr,
    request_id: &'a str,
    /// Bytes of the request's header names and values (measured once, in `serve`).
    header_bytes: usize,
}

#[allow(clippy::too_many_arguments)]
async fn integrate(
    p: &Arc<DataPlane>,
    snapshot: &crate::snapshot::Snapshot,
    parts: &http::request::Parts,
    body: Body,
    cx: Ctx<'_>,
    method: Method,
    started: Instant,
    route_time: std::time::Duration,
    buffer: bool,
) -> Result<Produced, GatewayError> {
    let Ctx { stage, serving, is_canary, route: found, target_path, host, peer, request_id, header_bytes } = cx;
    let route = &serving.deployment.routes[found.route];
    let t = match &serving.integrations[found.route] {
        ResolvedIntegration::Mock { status, body, headers } => {
            let timing = format!("route;dur={}, total;dur={}", Ms(route_time), Ms(started.elapsed()));
            return Ok(Produced {
                status: StatusCode::from_u16(*status).unwrap_or(StatusCode::OK),
                headers: headers.clone(),
                body: http_proxy::AnswerBody::Full(body.clone()),
                version: None,
                timing,
            });
        }
        ResolvedIntegration::HttpProxy(Ok(t)) => {
            let body = read_body(body).await?;
            let f = http_proxy::Forward {
                parts,
                body,
                params: &found.params,
                peer,
                request_id,
                max_response_bytes: p.config.max_payload_bytes,
                buffer,
            };
            let (api, name) = (stage.api_id.as_str(), stage.name.as_str());
            let a = match http_proxy::forward(&p.backends, t, f).await {
                Ok(a) => a,
                Err((e, why)) => {
                    let outcome = if matches!(e, GatewayError::IntegrationTimeout) { "timeout" } else { "error" };
                    p.observe.metrics.backend(api, name, is_canary, outcome, started.elapsed());
                    tracing::warn!(api, stage = name, canary = is_canary, request_id, backend = %t.origin, "Execution failed: HTTP proxy integration: {why}");
                    return Err(e);
                }
            };
            p.observe.metrics.backend(api, name, is_canary, "ok", a.backend_time);
            let timing = format!(
                "route;dur={}, backend;dur={}, total;dur={}",
                Ms(route_time),
                Ms(a.backend_time),
                Ms(started.elapsed())
            );
            return Ok(Produced { status: a.status, headers: a.headers, body: a.body, version: None, timing });
        }
        ResolvedIntegration::Function(Err(reason)) | ResolvedIntegration::HttpProxy(Err(reason)) => {
            tracing::warn!(api = %stage.api_id, stage = %stage.name, canary = is_canary, request_id, "{reason}");
            return Err(GatewayError::Internal);
        }
        ResolvedIntegration::Function(Ok(t)) => t,
    };
    if t.allowed & method.bit() == 0 {
        tracing::warn!(
            api = %stage.api_id, stage = %stage.name, canary = is_canary, request_id, function = %t.function, qualifier = %t.qualifier_text,
            "Execution failed due to configuration error: Invalid permissions on function"
        );
        return Err(GatewayError::Internal);
    }
    let resolved = invoke::resolve(snapshot, &t.function, &t.qualifier).map_err(|e| {
        tracing::warn!(api = %stage.api_id, stage = %stage.name, canary = is_canary, request_id, "Execution failed due to configuration error: {e}");
        GatewayError::Internal
    })?;
    let resolved = invoke::with_secrets(snapshot, resolved, &t.function, &stage.secret_environment).map_err(|why| {
        tracing::warn!(api = %stage.api_id, stage = %stage.name, request_id, "Execution failed due to configuration error: {why}");
        GatewayError::Internal
    })?;

    let body = read_body(body).await?;
    let request = GatewayRequest {
        parts,
        body: &body,
        header_bytes,
        path: target_path,
        host,
        peer,
        request_id,
        resource_path: route.path.as_str(),
        resource_id: &route.id,
        path_params: &found.params,
        api_id: &stage.api_id,
        stage: &stage.name,
        deployment_id: &serving.deployment.id,
        stage_variables: &serving.variables_json,
    };
    // The code's executor decides what the function gets (for stdio: the proxy event).
    let input =
        executor::encode(resolved.version.code.kind, GuestRequest::Gateway(&request), p.config.max_payload_bytes)
            .map_err(|e| match e {
                EncodeError::TooLarge => GatewayError::RequestTooLong,
                // The proxy event is JSON, so always text.
                EncodeError::Internal | EncodeError::NotText => GatewayError::Internal,
            })?;

    let ctx = CallContext {
        function: &t.function,
        qualifier: &t.qualifier_text,
        stage: Some(&stage.name),
        api: Some(&stage.api_id),
        canary: is_canary,
        request_id,
        cut_off: Some(t.timeout),
        class: stage.capacity.class,
        capacity: Some(&stage.capacity),
    };
    // The integration timeout is the invocation's cut-off: the runtime stops the instance
    // then (no timer of our own per request) and the invocation is logged like any other.
    let version = resolved.version.version.to_string();
    let outcome = match p.invoke(&resolved, ctx, input).await {
        Ok(o) if o.cut_off => {
            tracing::warn!(api = %stage.api_id, stage = %stage.name, canary = is_canary, request_id, "Execution failed: integration timeout after {:?}", t.timeout);
            p.observe.metrics.error(
                crate::observe::Labels {
                    function: &t.function,
                    version: &version,
                    alias: resolved.alias.as_deref().unwrap_or(""),
                    api: &stage.api_id,
                    stage: &stage.name,
                    canary: is_canary,
                },
                "IntegrationTimeout",
            );
            return Err(GatewayError::IntegrationTimeout);
        }
        Err(
            InvokeError::Throttled
            | InvokeError::ReservedConcurrency
            | InvokeError::DevelopmentShare
            | InvokeError::StageConcurrency,
        ) => return Err(GatewayError::TooManyRequests),
        Err(e) => {
            tracing::error!(api = %stage.api_id, stage = %stage.name, canary = is_canary, request_id, error = %e, "integration failed");
            return Err(GatewayError::BadGateway);
        }
        Ok(o) => o,
    };
    if let Some(err) = &outcome.error {
        tracing::warn!(api = %stage.api_id, stage = %stage.name, canary = is_canary, request_id, error_type = %err.error_type, "Execution failed: function error: {}", err.error_message);
        return Err(GatewayError::BadGateway);
    }
    let proxy = outcome.output.http().map_err(|why| {
        tracing::warn!(api = %stage.api_id, stage = %stage.name, canary = is_canary, request_id, "Execution failed due to configuration error: {why}");
        GatewayError::BadGateway
    })?;
    let timing = crate::observe::server_timing(Some(route_time), &outcome, started.elapsed());
    let body = http_proxy::AnswerBody::Full(proxy.body);
    let mut headers = proxy.headers;
    if !resolved.files.is_empty() {
        const CONFIG: http::HeaderName = http::HeaderName::from_static(crate::model::appconfig::CONFIG_HEADER);
        if let Ok(v) = HeaderValue::from_str(&crate::model::appconfig::describe(&resolved.files)) {
            headers.push((CONFIG, v));
        }
    }
    Ok(Produced { status: proxy.status, headers, body, version: Some(version), timing })
}

/// The request body, up to [`MAX_REQUEST_BYTES`].
async fn read_body(body: Body) -> Result<bytes::Bytes, GatewayError> {
    crate::body_limit::read_limited(body, MAX_REQUEST_BYTES).await.map_err(|e| match e {
        BodyError::TooLarge => GatewayError::RequestTooLong,
        BodyError::TimedOut => GatewayError::RequestTimeout,
        BodyError::Read(_) => GatewayError::BadRequest,
    })
}

fn decorate(mut r: Response, request_id: &str, deployment: &str, version: Option<&str>, timing: &str) -> Response {
    // Names built at compile time (a `&'static str` name is parsed on every insert).
    const REQUEST_ID: HeaderName = HeaderName::from_static("x-waygate-request-id");
    const AMZN_REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");
    const DEPLOYMENT_ID: HeaderName = HeaderName::from_static("x-waygate-deployment-id");
    const EXECUTED_VERSION: HeaderName = HeaderName::from_static("x-waygate-executed-version");
    const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");
    let h = r.headers_mut();
    let pairs = [
        (REQUEST_ID, Some(request_id)),
        (AMZN_REQUEST_ID, Some(request_id)),
        (DEPLOYMENT_ID, Some(deployment)),
        (EXECUTED_VERSION, version),
        (SERVER_TIMING, Some(timing)),
    ];
    for (k, v) in pairs {
        if let Some(v) = v.and_then(|v| HeaderValue::from_str(v).ok()) {
            h.insert(k, v);
        }
    }
    r
}
