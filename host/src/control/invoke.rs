//! Direct invoke: `POST /v1/functions/{name}/invoke?qualifier=Q[&class=C]`. The body is the payload
//! and the response body the function's result, as the code's executor passes them (for
//! stdio guests: stdin and stdout). A function error is still a 200, flagged by
//! `x-waygate-function-error`, as Lambda's sync invoke does.

use super::body::read_limited;
use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::invoke::{self, CallContext};
use crate::model::stage::PriorityClass;
use crate::model::{FunctionName, Qualifier, VersionId};
use crate::observe;
use crate::runtime::executor::{self, EncodeError};
use crate::runtime::{GuestRequest, InvokeError};
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::time::Instant;

#[derive(Deserialize)]
pub struct InvokeParams {
    qualifier: Option<String>,
    /// Whose secrets `secret:NAME` env values resolve from (default `default`).
    environment: Option<String>,
    /// The priority class to run in; default: `development` for `$LATEST` (the draft),
    /// `production` for published versions and aliases.
    class: Option<PriorityClass>,
}

pub async fn invoke(
    State(p): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<InvokeParams>,
    Extension(super::RequestId(request_id)): Extension<super::RequestId>,
    body: Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    // `name:qualifier` in the path is accepted too, as Lambda accepts it in FunctionName.
    let (name, path_qualifier) = crate::model::qualifier::split_qualified(&name);
    let name = FunctionName::parse(name)?;
    let qualifier = qualifier(path_qualifier, params.qualifier.as_deref())?;
    let payload = read_payload(&p, body).await?;
    let environment = params.environment.unwrap_or_else(|| "default".to_string());
    let done = execute(&p, &name, &qualifier, &environment, params.class, payload, &request_id).await?;
    let timing = observe::server_timing(Some(done.route), &done.outcome, started.elapsed());
    let mut resp = match &done.outcome.error {
        None => {
            (StatusCode::OK, [("content-type", "application/octet-stream")], done.outcome.output.raw()).into_response()
        }
        Some(err) => {
            let mut r = (StatusCode::OK, axum::Json(err)).into_response();
            r.headers_mut().insert("x-waygate-function-error", HeaderValue::from_static("Unhandled"));
            r
        }
    };
    let h = resp.headers_mut();
    if let Some(v) = done.config_files.and_then(|v| HeaderValue::from_str(&v).ok()) {
        h.insert(crate::model::appconfig::CONFIG_HEADER, v);
    }
    for (k, v) in [
        ("x-waygate-executed-version", done.version),
        ("x-waygate-request-id", request_id.to_string()),
        ("server-timing", timing),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    Ok(resp)
}

/// The qualifier from the function name (`name:q`) and from the query, which must agree.
pub fn qualifier(from_name: Option<&str>, from_query: Option<&str>) -> ApiResult<Qualifier> {
    let text = match (from_name, from_query) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::BadRequest(format!(
                "The derived qualifier from the function name ({a}) does not match the specified qualifier ({b})."
            )))
        }
        (a, b) => a.or(b),
    };
    Ok(Qualifier::parse(text)?)
}

/// An invocation's payload: the whole body, at most `--max-payload` bytes.
pub async fn read_payload(p: &AppState, body: Body) -> ApiResult<bytes::Bytes> {
    let limit = p.config.max_payload_bytes;
    read_limited(body, limit, "Request").await.map_err(|e| match e {
        ApiError::PayloadTooLarge(_) => ApiError::PayloadTooLarge(format!(
            "Request must be smaller than {limit} bytes for the InvokeFunction operation"
        )),
        other => other,
    })
}

/// A finished direct invocation.
pub struct Executed {
    /// The version that ran (`$LATEST` or a number).
    pub version: String,
    pub outcome: crate::runtime::Outcome,
    /// `x-waygate-config`: the configuration files it saw, if any.
    pub config_files: Option<String>,
    /// Time spent resolving the qualifier (server-timing's `route`).
    pub route: std::time::Duration,
}

/// THE direct invocation, for `/v1` and Lambda's Invoke alike: resolves the qualifier in
/// the current snapshot, binds `environment`'s secrets and runs the function in `class`
/// (default: `development` for `$LATEST`, `production` otherwise).
pub async fn execute(
    p: &AppState,
    name: &FunctionName,
    qualifier: &Qualifier,
    environment: &str,
    class: Option<PriorityClass>,
    payload: bytes::Bytes,
    request_id: &str,
) -> ApiResult<Executed> {
    let started = Instant::now();
    crate::ops::secrets::validate_name("environment", environment)?;
    let limit = p.config.max_payload_bytes;
    let dp = p.data_plane();
    let snapshot = dp.snapshot();
    let resolved = invoke::resolve(&snapshot, name, qualifier)?;
    let resolved = invoke::with_secrets(&snapshot, resolved, name, environment)
        .map_err(|why| ApiError::FunctionConfiguration(format!("Function configuration error: {why}")))?;
    drop(snapshot);
    let route = started.elapsed();
    let qualifier_shown = qualifier.to_string();
    let ctx = CallContext {
        function: name,
        qualifier: &qualifier_shown,
        stage: None,
        api: None,
        canary: false,
        request_id,
        cut_off: None,
        class: class.unwrap_or(match qualifier {
            Qualifier::Version(VersionId::Latest) => PriorityClass::Development,
            _ => PriorityClass::Production,
        }),
        capacity: None,
    };
    let input =
        executor::encode(resolved.version.code.kind, GuestRequest::Direct(payload), limit).map_err(|e| match e {
            EncodeError::NotText => ApiError::BadRequest(format!(
            "Could not parse request body: the function's code is a handler component, whose event is text, and {e}"
        )),
            e => ApiError::Internal(anyhow::anyhow!("invoke payload could not be encoded: {e}")),
        })?;
    let outcome = dp.invoke(&resolved, ctx, input).await.map_err(|e| match e {
        InvokeError::Throttled | InvokeError::DevelopmentShare | InvokeError::StageConcurrency => {
            ApiError::TooManyRequests
        }
        InvokeError::ReservedConcurrency => ApiError::ReservedConcurrencyExceeded,
        InvokeError::CodeUnavailable(m) => ApiError::CodeUnavailable(m),
        InvokeError::Internal(e) => ApiError::Internal(e),
    })?;
    let config_files =
        (!resolved.files.is_empty()).then(|| crate::model::appconfig::describe(&resolved.files).to_string());
    Ok(Executed { version: resolved.version.version.to_string(), outcome, config_files, route })
}
