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
    let qualifier_text = match (path_qualifier, params.qualifier) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::BadRequest(format!(
                "The derived qualifier from the function name ({a}) does not match the specified qualifier ({b})."
            )))
        }
        (a, b) => a.map(str::to_string).or(b),
    };
    let qualifier = Qualifier::parse(qualifier_text.as_deref())?;
    let limit = p.config.max_payload_bytes;
    let payload = read_limited(body, limit, "Request").await.map_err(|e| match e {
        ApiError::PayloadTooLarge(_) => ApiError::PayloadTooLarge(format!(
            "Request must be smaller than {limit} bytes for the InvokeFunction operation"
        )),
        other => other,
    })?;

    let environment = params.environment.unwrap_or_else(|| "default".to_string());
    crate::ops::secrets::validate_name("environment", &environment)?;
    let dp = p.data_plane();
    let snapshot = dp.snapshot();
    let resolved = invoke::resolve(&snapshot, &name, &qualifier)?;
    let resolved = invoke::with_secrets(&snapshot, resolved, &name, &environment)
        .map_err(|why| ApiError::FunctionConfiguration(format!("Function configuration error: {why}")))?;
    drop(snapshot);
    let route = started.elapsed();
    let qualifier_shown = qualifier.to_string();
    let ctx = CallContext {
        function: &name,
        qualifier: &qualifier_shown,
        stage: None,
        api: None,
        canary: false,
        request_id: &request_id,
        cut_off: None,
        class: params.class.unwrap_or(match qualifier {
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
    let version = resolved.version.version.to_string();
    let timing = observe::server_timing(Some(route), &outcome, started.elapsed());
    let mut resp = match &outcome.error {
        None => (StatusCode::OK, [("content-type", "application/octet-stream")], outcome.output.raw()).into_response(),
        Some(err) => {
            let mut r = (StatusCode::OK, axum::Json(err)).into_response();
            r.headers_mut().insert("x-waygate-function-error", HeaderValue::from_static("Unhandled"));
            r
        }
    };
    let h = resp.headers_mut();
    if !resolved.files.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&crate::model::appconfig::describe(&resolved.files)) {
            h.insert(crate::model::appconfig::CONFIG_HEADER, v);
        }
    }
    for (k, v) in [
        ("x-waygate-executed-version", version),
        ("x-waygate-request-id", request_id.to_string()),
        ("server-timing", timing),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    Ok(resp)
}
