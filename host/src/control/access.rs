//! Authorization of the management API: the one table mapping every route (method + axum
//! route pattern) to the action it performs and the resource it acts on, and the
//! middleware that authenticates the bearer, checks its policy and writes the audit log.
//!
//! Fail-closed: a route missing from [`RULES`] is refused to every key (only the admin
//! token passes), so a new endpoint cannot be reachable by keys before it has a rule.
//! Where the resource depends on the body or query (deploying onto a stage, moving a
//! stage's deployment, creating a named function or key, invoking a qualifier), the
//! middleware reads it here, in the same place, rather than in the handler.

use super::body::read_limited;
use super::error::ApiError;
use super::AppState;
use crate::model::policy::Policy;
use crate::store::{now_rfc3339, AuditEntry};
use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::HashMap;

/// How the checked (action, resource) pairs are derived beyond the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refine {
    /// The rule's action on its resource template.
    None,
    /// `function/{body.name}`.
    CreateFunction,
    /// `key/{body.name}`.
    CreateKey,
    /// `function/NAME`, `function/NAME/version/N` or `function/NAME/alias/A` from the
    /// path's `name[:qualifier]` and `?qualifier=`; plus `secret:Use` on `secret/ENV/*`
    /// when `?environment=ENV` names another environment than `default`.
    Invoke,
    /// With `{stage}` in the body: `api:Deploy` on `api/ID/stage/STAGE`; without, on `api/ID`.
    Deploy,
    /// `stage:Update` and, as it (re)points the stage at a deployment, `api:Deploy`; plus
    /// `secret:Use` on `secret/ENV/*` when the body sets `secret_environment` ENV.
    PutStage,
    /// `stage:Update`; plus `api:Deploy` when the body moves the deployment or a canary,
    /// and `secret:Use` as for `PutStage`.
    PatchStage,
}

pub struct Rule {
    pub method: &'static str,
    /// The axum route pattern, as registered in `control::app` (with the `/v1` prefix).
    pub path: &'static str,
    pub action: &'static str,
    /// `{param}` is replaced by the path parameter.
    pub resource: &'static str,
    pub refine: Refine,
}

const fn rule(method: &'static str, path: &'static str, action: &'static str, resource: &'static str) -> Rule {
    Rule { method, path, action, resource, refine: Refine::None }
}

const fn refined(
    method: &'static str,
    path: &'static str,
    action: &'static str,
    resource: &'static str,
    refine: Refine,
) -> Rule {
    Rule { method, path, action, resource, refine }
}

/// Every management route. Collections are checked on `TYPE/*` (a pattern in a policy
/// matches that text like any other: `function/*` does, `function/app` does not).
pub const RULES: &[Rule] = &[
    refined("POST", "/v1/functions", "function:Create", "function/*", Refine::CreateFunction),
    rule("GET", "/v1/functions", "function:Read", "function/*"),
    rule("GET", "/v1/functions/{name}", "function:Read", "function/{name}"),
    rule("DELETE", "/v1/functions/{name}", "function:Delete", "function/{name}"),
    rule("PUT", "/v1/functions/{name}/code", "function:UpdateCode", "function/{name}"),
    rule("PATCH", "/v1/functions/{name}/config", "function:UpdateConfig", "function/{name}"),
    rule("POST", "/v1/functions/{name}/versions", "function:PublishVersion", "function/{name}"),
    rule("GET", "/v1/functions/{name}/versions", "function:Read", "function/{name}"),
    rule("GET", "/v1/functions/{name}/versions/{version}", "function:Read", "function/{name}/version/{version}"),
    rule(
        "DELETE",
        "/v1/functions/{name}/versions/{version}",
        "function:DeleteVersion",
        "function/{name}/version/{version}",
    ),
    rule("GET", "/v1/functions/{name}/aliases", "function:Read", "function/{name}"),
    rule("PUT", "/v1/functions/{name}/aliases/{alias}", "alias:Update", "function/{name}/alias/{alias}"),
    rule("GET", "/v1/functions/{name}/aliases/{alias}", "function:Read", "function/{name}/alias/{alias}"),
    rule("DELETE", "/v1/functions/{name}/aliases/{alias}", "alias:Delete", "function/{name}/alias/{alias}"),
    refined("POST", "/v1/functions/{name}/invoke", "function:Invoke", "function/{name}", Refine::Invoke),
    rule("POST", "/v1/functions/{name}/permissions", "permission:Update", "function/{name}"),
    rule("GET", "/v1/functions/{name}/permissions", "function:Read", "function/{name}"),
    rule("DELETE", "/v1/functions/{name}/permissions/{statement_id}", "permission:Update", "function/{name}"),
    rule("POST", "/v1/apis", "api:Create", "api/*"),
    rule("GET", "/v1/apis", "api:Read", "api/*"),
    rule("GET", "/v1/apis/{id}", "api:Read", "api/{id}"),
    rule("DELETE", "/v1/apis/{id}", "api:Delete", "api/{id}"),
    rule("PUT", "/v1/apis/{id}/routes", "api:UpdateRoutes", "api/{id}"),
    rule("GET", "/v1/apis/{id}/routes", "api:Read", "api/{id}"),
    rule("GET", "/v1/apis/{id}/routes/{route}", "api:Read", "api/{id}"),
    rule("DELETE", "/v1/apis/{id}/routes/{route}", "api:UpdateRoutes", "api/{id}"),
    refined("POST", "/v1/apis/{id}/deployments", "api:Deploy", "api/{id}", Refine::Deploy),
    rule("GET", "/v1/apis/{id}/deployments", "api:Read", "api/{id}"),
    rule("GET", "/v1/apis/{id}/deployments/{deployment}", "api:Read", "api/{id}"),
    rule("DELETE", "/v1/apis/{id}/deployments/{deployment}", "api:Deploy", "api/{id}"),
    rule("GET", "/v1/apis/{id}/stages", "api:Read", "api/{id}"),
    refined("PUT", "/v1/apis/{id}/stages/{stage}", "stage:Update", "api/{id}/stage/{stage}", Refine::PutStage),
    refined("PATCH", "/v1/apis/{id}/stages/{stage}", "stage:Update", "api/{id}/stage/{stage}", Refine::PatchStage),
    rule("GET", "/v1/apis/{id}/stages/{stage}", "api:Read", "api/{id}/stage/{stage}"),
    rule("DELETE", "/v1/apis/{id}/stages/{stage}", "stage:Delete", "api/{id}/stage/{stage}"),
    // Promotion moves the stage onto the canary's deployment: stage:Update + api:Deploy.
    refined(
        "POST",
        "/v1/apis/{id}/stages/{stage}/canary/promote",
        "stage:Update",
        "api/{id}/stage/{stage}",
        Refine::PutStage,
    ),
    rule("DELETE", "/v1/apis/{id}/stages/{stage}/canary", "stage:Update", "api/{id}/stage/{stage}"),
    rule("DELETE", "/v1/apis/{id}/stages/{stage}/cache", "stage:FlushCache", "api/{id}/stage/{stage}"),
    rule("POST", "/v1/apis/{id}/stages/{stage}/invalidation-keys", "stage:Update", "api/{id}/stage/{stage}"),
    rule("GET", "/v1/apis/{id}/stages/{stage}/metrics", "api:Read", "api/{id}/stage/{stage}"),
    rule("PUT", "/v1/functions/{name}/concurrency", "function:UpdateConfig", "function/{name}"),
    rule("DELETE", "/v1/functions/{name}/concurrency", "function:UpdateConfig", "function/{name}"),
    refined("POST", "/v1/keys", "key:Manage", "key/*", Refine::CreateKey),
    rule("GET", "/v1/keys", "key:Manage", "key/*"),
    rule("DELETE", "/v1/keys/{name}", "key:Manage", "key/{name}"),
    rule("PUT", "/v1/secrets/{environment}/{name}", "secret:Put", "secret/{environment}/{name}"),
    rule("GET", "/v1/secrets/{environment}", "secret:List", "secret/{environment}/*"),
    rule("DELETE", "/v1/secrets/{environment}/{name}", "secret:Delete", "secret/{environment}/{name}"),
    rule("GET", "/v1/audit", "audit:Read", "audit"),
    // Logs can hold what a function printed: their own action, like CloudWatch Logs'.
    rule("GET", "/v1/functions/{name}/logs", "function:ReadLogs", "function/{name}"),
    rule("POST", "/v1/runtime/evict", "runtime:Evict", "runtime"),
    rule("GET", "/metrics", "metrics:Read", "metrics"),
];

pub fn find_rule(method: &Method, path: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.method == method.as_str() && r.path == path)
}

/// Who is calling: the admin token (root) or a named key with its policy, loaded from the
/// store for this request only (a revoked key fails on its next request).
#[derive(Clone, Debug)]
pub enum Principal {
    Admin,
    Key { name: String, policy: Policy },
}

impl Principal {
    pub fn name(&self) -> &str {
        match self {
            Principal::Admin => "admin",
            Principal::Key { name, .. } => name,
        }
    }
}

/// Largest body the middleware buffers to find a body-dependent resource (the JSON
/// bodies of those routes are bounded by the same limit in `body.rs`).
const MAX_INSPECTED_BODY: usize = 1024 * 1024;

pub async fn authorize(State(p): State<AppState>, req: Request, next: Next) -> Result<Response, ApiError> {
    let method = req.method().clone();
    let mutating = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let path = req.uri().path().to_string();
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_string());
    let principal = match authenticate(&p, presented).await {
        Ok(pr) => pr,
        Err(e) => {
            let resp = e.into_response();
            if mutating {
                audit(&p, "unauthenticated", &method, &path, "-", "-", resp.status().as_u16()).await;
            }
            return Ok(resp);
        }
    };
    let rule = req.extensions().get::<MatchedPath>().and_then(|m| find_rule(&method, m.as_str()));
    let (req, checks) = match rule {
        Some(rule) => required(rule, req).await?,
        None => (req, Vec::new()),
    };
    let denied = match &principal {
        Principal::Admin => None,
        Principal::Key { policy, .. } => {
            if checks.is_empty() {
                Some(format!("{} {} is not open to API keys (admin token only)", method, path))
            } else {
                checks.iter().find(|(a, r)| !policy.allows(a, r)).map(|(a, r)| {
                    format!("AccessDenied: key '{}' is not allowed to perform {a} on {r}", principal.name())
                })
            }
        }
    };
    let action = checks.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>().join(",");
    let mut resources: Vec<&str> = checks.iter().map(|(_, r)| r.as_str()).collect();
    resources.dedup();
    let resource = resources.join(",");
    let resp = match denied {
        Some(msg) => ApiError::Forbidden(msg).into_response(),
        None => {
            let mut req = req;
            req.extensions_mut().insert(principal.clone());
            next.run(req).await
        }
    };
    // An invocation changes nothing: like CloudTrail (where Invoke is an opt-in data event)
    // it is not audited, which also keeps a SQLite write off every direct invoke.
    if mutating && rule.is_none_or(|r| r.action != "function:Invoke") {
        let shown = |s: &str| if s.is_empty() { "-".to_string() } else { s.to_string() };
        audit(&p, principal.name(), &method, &path, &shown(&action), &shown(&resource), resp.status().as_u16()).await;
    }
    Ok(resp)
}

async fn authenticate(p: &AppState, presented: Option<String>) -> Result<Principal, ApiError> {
    let presented = presented.ok_or_else(|| {
        ApiError::Unauthorized(
            "Unauthorized: send Authorization: Bearer <token> (the admin token is in DATA_DIR/admin.token)".into(),
        )
    })?;
    if super::constant_time_eq(presented.as_bytes(), p.admin_token.as_bytes()) {
        return Ok(Principal::Admin);
    }
    let invalid = || ApiError::Unauthorized("Unauthorized: the bearer token is not valid".into());
    if !presented.starts_with(crate::access::KEY_PREFIX) {
        return Err(invalid());
    }
    // Looked up by hash, so comparing is a DB index probe, not a byte comparison that
    // could leak timing about the stored value.
    let hash = crate::access::hash_key(&presented);
    match p.db(move |s| s.key_by_hash(&hash)).await? {
        Some(k) => Ok(Principal::Key { name: k.name, policy: k.policy }),
        None => Err(invalid()),
    }
}

/// The (action, resource) pairs `req` needs, with the request given back (its body
/// re-attached when it had to be read). Empty when the resource can't be named, which
/// denies every key.
async fn required(rule: &Rule, req: Request) -> Result<(Request, Vec<(String, String)>), ApiError> {
    let (mut parts, body) = req.into_parts();
    let params = match Path::<HashMap<String, String>>::from_request_parts(&mut parts, &()).await {
        Ok(Path(p)) => p,
        Err(_) => return Ok((Request::from_parts(parts, body), Vec::new())),
    };
    // A decoded parameter holding `/` or `*` could impersonate another resource; the
    // handlers reject such names anyway, so refusing them to keys costs nothing.
    if params.values().any(|v| v.contains('/') || v.contains('*') || v.is_empty()) {
        return Ok((Request::from_parts(parts, body), Vec::new()));
    }
    let base = fill(rule.resource, &params);
    let needs_body =
        matches!(rule.refine, Refine::CreateFunction | Refine::CreateKey | Refine::Deploy | Refine::PatchStage);
    let (body, json) = if needs_body {
        let bytes = read_limited(body, MAX_INSPECTED_BODY, "Request body").await?;
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (Body::from(bytes), json)
    } else {
        (body, Value::Null)
    };
    let name_in_body = |kind: &str| match json.get("name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() && !n.contains('/') && !n.contains('*') => format!("{kind}/{n}"),
        _ => format!("{kind}/*"),
    };
    let action = rule.action.to_string();
    let checks = match rule.refine {
        Refine::None => vec![(action, base)],
        Refine::CreateFunction => vec![(action, name_in_body("function"))],
        Refine::CreateKey => vec![(action, name_in_body("key"))],
        Refine::Invoke => {
            let raw = params.get("name").cloned().unwrap_or_default();
            let query = |name: &str| {
                form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
            };
            let query_q = query("qualifier");
            let environment = query("environment");
            let (name, q) = match raw.split_once(':') {
                Some((n, q)) => (n.to_string(), Some(q.to_string())),
                None => (raw, query_q),
            };
            let resource = match q.as_deref() {
                None | Some("") => format!("function/{name}"),
                Some(q) if q == "$LATEST" || q.bytes().all(|b| b.is_ascii_digit()) => {
                    format!("function/{name}/version/{q}")
                }
                Some(q) if q.contains('/') || q.contains('*') => return Ok((Request::from_parts(parts, body), vec![])),
                Some(q) => format!("function/{name}/alias/{q}"),
            };
            let mut c = vec![(action, resource)];
            match environment.as_deref() {
                None | Some("default") => {}
                Some(e) if e.is_empty() || e.contains('/') || e.contains('*') => {
                    return Ok((Request::from_parts(parts, body), vec![]))
                }
                Some(e) => c.push(("secret:Use".into(), format!("secret/{e}/*"))),
            }
            c
        }
        Refine::Deploy => match json.get("stage").and_then(Value::as_str) {
            Some(s) if !s.is_empty() && !s.contains('/') && !s.contains('*') => {
                vec![(action, format!("{base}/stage/{s}"))]
            }
            Some(_) => Vec::new(),
            None => vec![(action, base)],
        },
        Refine::PutStage => {
            let mut c = vec![(action, base.clone()), ("api:Deploy".into(), base)];
            if !use_secrets(&json, &mut c) {
                c.clear();
            }
            c
        }
        Refine::PatchStage => {
            let moves = json.as_object().is_some_and(|o| {
                o.iter().any(|(k, v)| !v.is_null() && (k.contains("deployment") || k.contains("canary")))
            });
            let mut c = vec![(action, base.clone())];
            if moves {
                c.push(("api:Deploy".into(), base));
            }
            if !use_secrets(&json, &mut c) {
                c.clear();
            }
            c
        }
    };
    Ok((Request::from_parts(parts, body), checks))
}

/// Binding a stage to an environment's secrets needs `secret:Use` on them: otherwise a
/// key that may edit `dev` could point it at `prod`'s secrets. `false`: unnameable.
fn use_secrets(json: &Value, checks: &mut Vec<(String, String)>) -> bool {
    match json.get("secret_environment") {
        None | Some(Value::Null) => true,
        Some(Value::String(e)) if !e.is_empty() && !e.contains('/') && !e.contains('*') => {
            checks.push(("secret:Use".into(), format!("secret/{e}/*")));
            true
        }
        Some(_) => false,
    }
}

fn fill(template: &str, params: &HashMap<String, String>) -> String {
    let mut out = template.to_string();
    for (k, v) in params {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

#[allow(clippy::too_many_arguments)]
async fn audit(p: &AppState, who: &str, method: &Method, path: &str, action: &str, resource: &str, status: u16) {
    let entry = AuditEntry {
        id: 0,
        at: now_rfc3339(),
        principal: who.to_string(),
        method: method.to_string(),
        path: path.chars().take(1024).collect(),
        action: action.to_string(),
        resource: resource.chars().take(1024).collect(),
        status,
    };
    if let Err(e) = p.db(move |s| s.append_audit(&entry)).await {
        tracing::error!(error = %e, "could not write the audit log entry");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::policy::ACTIONS;

    #[test]
    fn every_rule_names_a_known_action_and_is_unique() {
        for (i, r) in RULES.iter().enumerate() {
            assert!(ACTIONS.contains(&r.action), "{} {}: unknown action {}", r.method, r.path, r.action);
            assert!(
                RULES[..i].iter().all(|o| o.method != r.method || o.path != r.path),
                "{} {} listed twice",
                r.method,
                r.path
            );
        }
    }

    #[test]
    fn fill_replaces_params() {
        let params = HashMap::from([("name".to_string(), "app".to_string()), ("alias".into(), "DEV".into())]);
        assert_eq!(fill("function/{name}/alias/{alias}", &params), "function/app/alias/DEV");
    }
}
