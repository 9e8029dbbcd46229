//! The AWS-compatible façade of the management API: Lambda's REST API (`/2015-03-31/…`,
//! and the concurrency paths of `/2017-10-31` and `/2019-09-30`) and API Gateway's REST
//! API (`/restapis…`) on the admin listener, SigV4-signed, so `aws --endpoint-url` and
//! boto3 manage and invoke Waygate as they do Lambda and API Gateway.
//!
//! A façade, not a second implementation: its routes are rows of the one route table
//! ([`super::routes::ROUTES`], same actions and resources as their `/v1` twins, checked by
//! the same middleware), and its handlers translate AWS's shapes to the same `ops`
//! functions `/v1` calls. What is AWS's own lives here: SigV4 ([`sigv4`]), ARNs, the
//! request and response shapes ([`lambda`], [`apigateway`]), and the packaging of code in a zip
//! ([`package`]).

pub mod apigateway;
pub mod events;
pub mod lambda;
pub mod package;
pub mod sigv4;

use super::access::Principal;
use super::error::ApiError;
use super::AppState;
use crate::model::{FunctionName, Invalid};
use axum::extract::Request;

/// The region and account id the façade claims: in ARNs, and the region a signature's
/// credential scope must name (`waygate up --aws-region`, `--aws-account-id`).
#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub region: String,
    pub account_id: String,
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings { region: "us-east-1".into(), account_id: "000000000000".into() }
    }
}

impl AwsSettings {
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`.
    pub fn function_arn(&self, name: &str, qualifier: Option<&str>) -> String {
        let base = format!("arn:aws:lambda:{}:{}:function:{name}", self.region, self.account_id);
        match qualifier {
            Some(q) => format!("{base}:{q}"),
            None => base,
        }
    }
}

/// Prefixes of the paths the façade serves (and answers with AWS-shaped errors).
pub const PATH_PREFIXES: &[&str] = &["/2015-03-31/", "/2017-10-31/", "/2019-09-30/", "/restapis"];

pub fn is_aws_path(path: &str) -> bool {
    PATH_PREFIXES.iter().any(|p| path.starts_with(p))
}

/// A `FunctionName` as Lambda accepts it: `NAME`, `NAME:QUALIFIER`, the full ARN
/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` or the partial
/// `ACCOUNT:function:NAME[:QUALIFIER]`. Returns the `NAME[:QUALIFIER]` part.
pub fn unarn(raw: &str) -> &str {
    let parts: Vec<&str> = raw.splitn(8, ':').collect();
    if raw.starts_with("arn:") && parts.len() >= 7 && parts[5] == "function" {
        return &raw[parts[..6].iter().map(|p| p.len() + 1).sum::<usize>()..];
    }
    if parts.len() >= 3 && parts[1] == "function" && parts[0].bytes().all(|b| b.is_ascii_digit()) {
        return &raw[parts[0].len() + parts[1].len() + 2..];
    }
    raw
}

/// [`unarn`], then split at the qualifier: the function and the qualifier if any.
pub fn function_name(raw: &str) -> Result<(FunctionName, Option<String>), Invalid> {
    let plain = unarn(raw);
    if plain.starts_with("arn:") {
        return Err(Invalid::new(format!(
            "'{}' is not a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME)",
            crate::model::names::truncate(raw)
        )));
    }
    let (name, qualifier) = crate::model::qualifier::split_qualified(plain);
    Ok((FunctionName::parse(name)?, qualifier.map(str::to_string)))
}

/// Authenticates a SigV4-signed request: the access key id names the admin pair or an API
/// key; the signature is checked over the buffered body, which is put back for the
/// handler. Errors answer as AWS does (403 `UnrecognizedClientException` for an unknown
/// key id, 403 `InvalidSignatureException`, 400 `IncompleteSignatureException`).
pub async fn authenticate(p: &AppState, req: Request) -> Result<(Request, Principal), ApiError> {
    let claim = sigv4::parse(req.uri(), req.headers()).map_err(sig_error)?;
    if claim.region != p.config.aws.region {
        return Err(ApiError::InvalidSignature(format!(
            "Credential should be scoped to a valid region, not '{}'. This endpoint's region is '{}'.",
            claim.region.chars().take(64).collect::<String>(),
            p.config.aws.region
        )));
    }
    let path = req.uri().path();
    let service =
        if path.starts_with("/restapis") { Some("apigateway") } else { is_aws_path(path).then_some("lambda") };
    if let Some(want) = service.filter(|s| claim.service != *s) {
        return Err(ApiError::InvalidSignature(format!(
            "Credential should be scoped to correct service: '{want}', not '{}'.",
            claim.service.chars().take(64).collect::<String>()
        )));
    }
    let (principal, secret) = if claim.access_key_id == p.admin_aws.access_key_id {
        (Principal::Admin, p.admin_aws.secret.clone())
    } else {
        // From the snapshot (rebuilt on every key change, so a revoked key fails at once):
        // no store read per signed call.
        let key = p.snapshot().access.aws_key(&claim.access_key_id).ok_or(ApiError::UnrecognizedClient)?;
        (Principal::Key { name: key.name.clone(), policy: key.policy.clone() }, key.secret.clone())
    };
    let (parts, body) = req.into_parts();
    // The whole body is signed: read it (bounded by the largest request the façade takes,
    // a base64 zip of the largest upload inside JSON) and put it back for the handler.
    let limit = p.config.max_upload_bytes / 3 * 4 + 1024 * 1024;
    let bytes = super::body::read_limited(body, limit, "Request").await?;
    sigv4::verify(
        &claim,
        &secret,
        parts.method.as_str(),
        &parts.uri,
        &parts.headers,
        &bytes,
        time::OffsetDateTime::now_utc(),
    )
    .map_err(sig_error)?;
    Ok((Request::from_parts(parts, axum::body::Body::from(bytes)), principal))
}

fn sig_error(e: sigv4::SigError) -> ApiError {
    match e {
        sigv4::SigError::Incomplete(m) => ApiError::IncompleteSignature(m),
        sigv4::SigError::Invalid(m) => ApiError::InvalidSignature(m),
    }
}

/// AWS's error body on the façade's paths: `{"Type": "User"|"Service", "message": …}`
/// (botocore takes the exception from `x-amzn-errortype`, which every error carries), and
/// functions named by their ARN in messages, as Lambda names them. Other paths pass.
pub async fn shape_errors(
    axum::extract::State(p): axum::extract::State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let aws = is_aws_path(req.uri().path());
    let apigateway = req.uri().path().starts_with("/restapis");
    let resp = next.run(req).await;
    let status = resp.status();
    if !aws || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = http_body_util::BodyExt::collect(http_body_util::Limited::new(body, 64 * 1024)).await else {
        return (parts.status, parts.headers).into_response();
    };
    let mut v: serde_json::Value = serde_json::from_slice(&bytes.to_bytes()).unwrap_or_default();
    if let Some(m) = v.get("message").and_then(|m| m.as_str()) {
        let prefix = format!("arn:aws:lambda:{}:{}:function:", p.config.aws.region, p.config.aws.account_id);
        let m = m.replace("waygate:function:", &prefix);
        v["message"] = m.into();
    }
    if apigateway {
        // API Gateway's exceptions have names of their own; its body is `{"message"}`.
        let kind = parts.headers.get("x-amzn-errortype").and_then(|h| h.to_str().ok()).unwrap_or("");
        let renamed = match kind {
            "ResourceNotFoundException" => Some("NotFoundException"),
            "InvalidParameterValueException" | "PreconditionFailedException" => Some("BadRequestException"),
            "ResourceConflictException" => Some("ConflictException"),
            _ => None,
        };
        if let Some(name) = renamed {
            parts.headers.insert("x-amzn-errortype", http::HeaderValue::from_static(name));
        }
        if let Some(o) = v.as_object_mut() {
            o.remove("type");
        }
    } else {
        v["Type"] = if status.is_server_error() { "Service" } else { "User" }.into();
    }
    parts.headers.remove(http::header::CONTENT_LENGTH);
    axum::response::Response::from_parts(parts, axum::body::Body::from(v.to_string()))
}

/// Lambda operations Waygate does not implement, by method and path shape, so the answer
/// names the operation. Anything else under the façade's prefixes is named by its path.
const UNSUPPORTED: &[(&str, &str, &str)] = &[
    ("GET", "/2017-03-31/tags/", "ListTags"),
    ("POST", "/2017-03-31/tags/", "TagResource"),
    ("DELETE", "/2017-03-31/tags/", "UntagResource"),
    ("GET", "/2016-08-19/account-settings", "GetAccountSettings"),
    ("POST", "/2015-03-31/event-source-mappings", "CreateEventSourceMapping"),
    ("GET", "/2015-03-31/event-source-mappings", "ListEventSourceMappings"),
    ("GET", "/2018-10-31/layers", "ListLayers"),
    ("POST", "/2018-10-31/layers", "PublishLayerVersion"),
    ("PUT", "/2019-09-25/functions/", "PutFunctionEventInvokeConfig"),
    ("GET", "/2019-09-25/functions/", "GetFunctionEventInvokeConfig"),
    ("POST", "/2021-10-31/functions/", "CreateFunctionUrlConfig"),
    ("GET", "/2021-10-31/functions/", "GetFunctionUrlConfig"),
    ("PUT", "/2019-09-30/functions/", "PutProvisionedConcurrencyConfig"),
    ("POST", "/2015-03-31/functions/", "InvokeAsync or another function sub-resource"),
];

/// The answer to an AWS-style path outside the supported subset: 501, naming the
/// operation, in AWS's error shape.
pub fn unsupported(method: &str, path: &str) -> ApiError {
    let op = UNSUPPORTED
        .iter()
        .find(|(m, prefix, _)| *m == method && path.starts_with(prefix))
        .map(|(_, _, op)| format!("the Lambda operation {op}"))
        .unwrap_or_else(|| format!("the AWS operation at {method} {}", path.chars().take(200).collect::<String>()));
    ApiError::NotImplemented(format!(
        "Waygate's AWS-compatible API does not implement {op}; see the README's list of supported operations"
    ))
}

/// Whether `path` looks like an AWS API path (a date-versioned prefix, `/restapis`), for
/// [`unsupported`] answers on unknown routes.
pub fn looks_like_aws(path: &str) -> bool {
    let b = path.as_bytes();
    path.starts_with("/restapis")
        || (b.len() > 12 && b[0] == b'/' && b[1..5].iter().all(u8::is_ascii_digit) && b[5] == b'-' && b[11] == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_come_in_every_lambda_form() {
        for (raw, name, q) in [
            ("orders", "orders", None),
            ("orders:prod", "orders", Some("prod")),
            ("arn:aws:lambda:us-east-1:000000000000:function:orders", "orders", None),
            ("arn:aws:lambda:us-east-1:000000000000:function:orders:7", "orders", Some("7")),
            ("000000000000:function:orders:$LATEST", "orders", Some("$LATEST")),
        ] {
            let (n, qual) = function_name(raw).unwrap();
            assert_eq!((n.as_str(), qual.as_deref()), (name, q), "{raw}");
        }
        assert!(function_name("arn:aws:lambda:us-east-1:0:layer:x").is_err());
        assert_eq!(
            AwsSettings::default().function_arn("f", Some("1")),
            "arn:aws:lambda:us-east-1:000000000000:function:f:1"
        );
    }

    #[test]
    fn unsupported_operations_are_named() {
        assert!(unsupported("GET", "/2017-03-31/tags/arn").to_string().contains("ListTags"));
        assert!(unsupported("GET", "/2099-01-01/x").to_string().contains("GET /2099-01-01/x"));
        assert!(looks_like_aws("/2016-08-19/account-settings"));
        assert!(looks_like_aws("/restapis"));
        assert!(!looks_like_aws("/v1/functions"));
    }
}
