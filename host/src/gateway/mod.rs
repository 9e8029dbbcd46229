//! The data plane's HTTP front: API Gateway REST semantics over the routing snapshot.
//! A request walks: [`listener`] (which API and stage) → [`stage`] (snapshot lookup) →
//! [`route`] (matcher) → [`integration`] (pre-resolved target + permission) →
//! [`crate::invoke`] (alias → version → fresh instance) with the [`event`] on stdin →
//! [`response`] (proxy response rules). It never touches the database.

pub mod error;
pub mod event;
pub mod integration;
pub mod listener;
pub mod response;
pub mod route;
pub mod stage;

use crate::invoke::{self, CallContext};
use crate::model::api::Method;
use crate::platform::Platform;
use crate::runtime::InvokeError;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode};
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

/// The gateway router, shared by `waygate up` and the tests.
pub fn app(platform: Arc<Platform>) -> Router {
    Router::new().fallback(handle).with_state(platform)
}

async fn handle(State(p): State<Arc<Platform>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    match serve(&p, peer, req, &request_id, started).await {
        Ok(r) => r,
        Err(e) => e.into_response_with_id(&request_id),
    }
}

async fn serve(
    p: &Arc<Platform>,
    peer: SocketAddr,
    req: Request,
    request_id: &str,
    started: Instant,
) -> Result<Response, GatewayError> {
    let (parts, body) = req.into_parts();
    let host = parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok());
    let target = listener::locate(host, parts.uri.path()).ok_or(GatewayError::Forbidden)?;
    let snapshot = p.snapshot();
    let stage = snapshot.gateway.stage(target.api, target.stage).ok_or(GatewayError::Forbidden)?;
    let method = Method::from_http(&parts.method).ok_or(GatewayError::MissingAuthenticationToken)?;
    let found = stage.deployment.table.find(method, target.path).ok_or(GatewayError::MissingAuthenticationToken)?;
    let route = &stage.deployment.routes[found.route];
    let route_time = started.elapsed();

    let t = match &stage.integrations[found.route] {
        ResolvedIntegration::Mock { status, body, headers } => {
            let mut r = (StatusCode::from_u16(*status).unwrap_or(StatusCode::OK), body.clone()).into_response();
            for (k, v) in headers {
                r.headers_mut().append(k.clone(), v.clone());
            }
            let timing = format!("route;dur={:.3}, total;dur={:.3}", ms(route_time), ms(started.elapsed()));
            return Ok(decorate(r, request_id, &stage.deployment.id, None, &timing));
        }
        ResolvedIntegration::Function(Err(reason)) => {
            tracing::warn!(api = %stage.api_id, stage = %stage.name, request_id, "{reason}");
            return Err(GatewayError::Internal);
        }
        ResolvedIntegration::Function(Ok(t)) => t,
    };
    if t.allowed & method.bit() == 0 {
        tracing::warn!(
            api = %stage.api_id, stage = %stage.name, request_id, function = %t.function, qualifier = %t.qualifier_text,
            "Execution failed due to configuration error: Invalid permissions on function"
        );
        return Err(GatewayError::Internal);
    }
    let resolved = invoke::resolve(&snapshot, &t.function, &t.qualifier).map_err(|e| {
        tracing::warn!(api = %stage.api_id, stage = %stage.name, request_id, "Execution failed due to configuration error: {e}");
        GatewayError::Internal
    })?;

    let body = crate::control::body::read_limited(body, MAX_REQUEST_BYTES, "Request")
        .await
        .map_err(|_| GatewayError::RequestTooLong)?;
    let (headers, multi_headers) = event::headers(&parts.headers);
    let (query, multi_query) = event::query(parts.uri.query());
    let (body_text, is_base64) = event::body(&body);
    let now = time::OffsetDateTime::now_utc();
    let context_path = &parts.uri.path()[parts.uri.path().len() - target.path.len().min(parts.uri.path().len())..];
    let stage_path = format!(
        "/{}{}",
        stage.name,
        if context_path == "/" && !parts.uri.path().ends_with('/') { "" } else { context_path }
    );
    let event = event::ProxyEvent {
        resource: route.path.as_str(),
        path: event::percent_decode(target.path),
        http_method: parts.method.as_str(),
        headers,
        multi_value_headers: multi_headers,
        query_string_parameters: query,
        multi_value_query_string_parameters: multi_query,
        path_parameters: (!found.params.is_empty())
            .then(|| found.params.iter().map(|(k, v)| (*k, event::percent_decode(v))).collect()),
        stage_variables: &stage.variables_json,
        request_context: event::RequestContext {
            account_id: "000000000000",
            api_id: &stage.api_id,
            deployment_id: &stage.deployment.id,
            domain_name: host.unwrap_or(""),
            domain_prefix: &stage.api_id,
            extended_request_id: request_id,
            http_method: parts.method.as_str(),
            identity: event::Identity {
                source_ip: peer.ip().to_string(),
                user_agent: parts.headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()),
            },
            path: &stage_path,
            protocol: "HTTP/1.1",
            request_id,
            request_time: event::request_time(now),
            request_time_epoch: (now.unix_timestamp_nanos() / 1_000_000) as i64,
            resource_id: &route.id,
            resource_path: route.path.as_str(),
            stage: &stage.name,
        },
        body: body_text,
        is_base64_encoded: is_base64,
    };
    let payload = serde_json::to_vec(&event).map_err(|_| GatewayError::Internal)?;
    if payload.len() > p.config.max_payload_bytes {
        return Err(GatewayError::RequestTooLong);
    }

    let ctx = CallContext {
        function: &t.function,
        qualifier: &t.qualifier_text,
        stage: Some(&stage.name),
        api: Some(&stage.api_id),
        canary: false,
        request_id,
    };
    let run = invoke::run(&p.runtime, &p.observe, &resolved, ctx, payload.into());
    let outcome = match tokio::time::timeout(t.timeout, run).await {
        Err(_) => {
            tracing::warn!(api = %stage.api_id, stage = %stage.name, request_id, "Execution failed: integration timeout after {:?}", t.timeout);
            let version = resolved.version.version.to_string();
            p.observe.metrics.error(
                crate::observe::Labels {
                    function: &t.function,
                    version: &version,
                    alias: resolved.alias.as_deref().unwrap_or(""),
                    api: &stage.api_id,
                    stage: &stage.name,
                    canary: false,
                },
                "IntegrationTimeout",
            );
            return Err(GatewayError::IntegrationTimeout);
        }
        Ok(Err(InvokeError::Throttled)) => return Err(GatewayError::TooManyRequests),
        Ok(Err(e)) => {
            tracing::error!(api = %stage.api_id, stage = %stage.name, request_id, error = %e, "integration failed");
            return Err(GatewayError::BadGateway);
        }
        Ok(Ok(o)) => o,
    };
    let version = resolved.version.version.to_string();
    if let Some(err) = &outcome.error {
        tracing::warn!(api = %stage.api_id, stage = %stage.name, request_id, error_type = %err.error_type, "Execution failed: function error: {}", err.error_message);
        return Err(GatewayError::BadGateway);
    }
    let proxy = response::parse(&outcome.stdout).map_err(|why| {
        tracing::warn!(api = %stage.api_id, stage = %stage.name, request_id, "Execution failed due to configuration error: Malformed Lambda proxy response ({why})");
        GatewayError::BadGateway
    })?;
    let mut r = (proxy.status, Body::from(proxy.body)).into_response();
    for (k, v) in proxy.headers {
        r.headers_mut().append(k, v);
    }
    let timing = crate::observe::server_timing(Some(route_time), &outcome, started.elapsed());
    Ok(decorate(r, request_id, &stage.deployment.id, Some(&version), &timing))
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn decorate(mut r: Response, request_id: &str, deployment: &str, version: Option<&str>, timing: &str) -> Response {
    let h = r.headers_mut();
    let pairs = [
        ("x-waygate-request-id", Some(request_id)),
        ("x-amzn-requestid", Some(request_id)),
        ("x-waygate-deployment-id", Some(deployment)),
        ("x-waygate-executed-version", version),
        ("server-timing", Some(timing)),
    ];
    for (k, v) in pairs {
        if let Some(v) = v.and_then(|v| HeaderValue::from_str(v).ok()) {
            h.insert(k, v);
        }
    }
    r
}
