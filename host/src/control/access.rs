//! Authorization of the management API: what a route's access [`Rule`] says (the action
//! it performs and the resource it acts on; every route declares one beside its handler in
//! [`super::routes::ROUTES`]), and the middleware that authenticates the caller (a bearer
//! token, or a SigV4 signature: [`super::aws::authenticate`]), checks its policy and
//! writes the audit log.
//!
//! Fail-closed: a request whose route isn't in the table (no `MatchedPath`, or a method the
//! table doesn't list, e.g. HEAD) is refused to every key (only the admin token passes).
//! Where the resource depends on the body or query (deploying onto a stage, creating a
//! named function or key, invoking a qualifier) the rule says so ([`Refine`]); fields that
//! need a permission of their own wherever they appear (`secret_environment`,
//! `deployment_id`, `canary`, `?environment=`) are in [`FIELD_RULES`]. The middleware
//! reads bodies and queries here, in one place, rather than in the handlers.

use super::body::read_limited;
use super::error::ApiError;
use super::AppState;
use crate::model::policy::Policy;
use crate::store::{now_rfc3339, AuditEntry};
use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::HashMap;

/// How the rule's own (action, resource) pair is derived beyond the path. Extra
/// permissions that a request's *fields* need are not here: they come from
/// [`FIELD_RULES`], for every route and method alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refine {
    /// The rule's action on its resource template.
    None,
    /// `function/{body.name}`.
    CreateFunction,
    /// `key/{body.name}`.
    CreateKey,
    /// `function/NAME`, `function/NAME/version/N` or `function/NAME/alias/A` from the
    /// path's `name[:qualifier]` and `?qualifier=`.
    Invoke,
    /// With `{stage}` in the body: `api:Deploy` on `api/ID/stage/STAGE`; without, on `api/ID`.
    Deploy,
    /// The rule's action and `api:Deploy` on the same resource: the route moves a stage
    /// onto another deployment without naming it in a field (canary promotion).
    AlsoDeploy,
    /// Lambda's DeleteFunction: with `?Qualifier=N` (or `NAME:N`) it deletes a version,
    /// `function:DeleteVersion` on `function/NAME/version/N` as `/v1` checks it.
    DeleteFunction,
    /// Lambda's CreateAlias: the rule's action on `function/NAME/alias/{body.Name}`.
    CreateAlias,
    /// API Gateway's CreateStage: the rule's action on `api/ID/stage/{body.stageName}`.
    CreateStage,
    /// A read whose answer holds many resources: no permission on the route itself; the
    /// handler keeps only the items the caller may read (the rule's action on each item's
    /// resource, through [`Principal::allows`]). `GET /v1/stats`: a key scoped to `dev`
    /// sees dev's figures and nothing of prod's, as it would through the per-stage routes.
    PerItem,
    /// API Gateway's UpdateStage: the rule's action, and `api:Deploy` on the same stage
    /// when a patch operation moves its deployment or canary (`/deploymentId`,
    /// `/canarySettings…`, or a `copy` from them).
    PatchOperations,
}

/// What the route's body is: JSON whose fields [`FIELD_RULES`] inspect, or bytes that are
/// not Waygate's to interpret (code, an invocation's payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    /// JSON that may be as large as a code upload (Lambda's `ZipFile` inline).
    LargeJson,
    Raw,
}

/// A route's access rule, declared with the route in [`super::routes::ROUTES`].
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub action: &'static str,
    /// `{param}` is replaced by the path parameter.
    pub resource: &'static str,
    pub refine: Refine,
    pub body: BodyKind,
}

/// `action` on `resource`, nothing refined, a JSON body.
pub const fn rule(action: &'static str, resource: &'static str) -> Rule {
    Rule { action, resource, refine: Refine::None, body: BodyKind::Json }
}

impl Rule {
    /// The resource (or an extra pair) comes from beyond the path: see [`Refine`].
    pub const fn refine(self, refine: Refine) -> Rule {
        Rule { refine, ..self }
    }

    /// The route's body is opaque bytes: no field of it is a permission-bearing field.
    pub const fn raw(self) -> Rule {
        Rule { body: BodyKind::Raw, ..self }
    }

    /// The route's body is JSON as large as a code upload.
    pub const fn large(self) -> Rule {
        Rule { body: BodyKind::LargeJson, ..self }
    }
}

/// Where a [`FieldRule`] looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A top-level field of the JSON body (routes with [`BodyKind::Json`], any method).
    Body,
    /// A query parameter (every route).
    Query,
}

/// A request field that needs a permission of its own, beyond the route's rule. Checked
/// on every request of every route that could carry it, whatever the method: the table is
/// not keyed by route, so a new route (or method) with such a field is covered without
/// anyone remembering to add a check.
pub struct FieldRule {
    pub field: &'static str,
    pub source: Source,
    pub action: &'static str,
    /// `{value}`: the field's value (it must then pass `segment`, or the request is
    /// refused to keys); `{base}`: the route's resource.
    pub resource: &'static str,
    /// A value that needs no extra permission (the one a request gets by default anyway).
    pub free_value: Option<&'static str>,
}

/// Every permission-bearing field. Binding a stage (or an invocation) to an environment's
/// secrets needs `secret:Use` on them — otherwise a key that may edit `dev` could point it
/// at `prod`'s secrets; moving a stage's deployment or canary needs `api:Deploy` on the
/// stage.
pub const FIELD_RULES: &[FieldRule] = &[
    FieldRule {
        field: "secret_environment",
        source: Source::Body,
        action: "secret:Use",
        resource: "secret/{value}/*",
        free_value: None,
    },
    // A stage's `environment` is `secret_environment` under its newer name.
    FieldRule {
        field: "environment",
        source: Source::Body,
        action: "secret:Use",
        resource: "secret/{value}/*",
        free_value: None,
    },
    FieldRule {
        field: "environment",
        source: Source::Query,
        action: "secret:Use",
        resource: "secret/{value}/*",
        free_value: Some("default"),
    },
    FieldRule {
        field: "deployment_id",
        source: Source::Body,
        action: "api:Deploy",
        resource: "{base}",
        free_value: None,
    },
    FieldRule { field: "canary", source: Source::Body, action: "api:Deploy", resource: "{base}", free_value: None },
    // API Gateway's names for the same fields (CreateStage, CreateDeployment).
    FieldRule {
        field: "deploymentId",
        source: Source::Body,
        action: "api:Deploy",
        resource: "{base}",
        free_value: None,
    },
    FieldRule {
        field: "canarySettings",
        source: Source::Body,
        action: "api:Deploy",
        resource: "{base}",
        free_value: None,
    },
    // Lambda's CreateFunction / UpdateFunctionCode with `"Publish": true` also publish a
    // version, as POST …/versions would.
    FieldRule {
        field: "Publish",
        source: Source::Body,
        action: "function:PublishVersion",
        resource: "{base}",
        free_value: None,
    },
];

/// Who is calling: the admin token (root) or a named key with its policy, loaded from the
/// store for this request only (a revoked key fails on its next request).
#[derive(Clone, Debug)]
pub enum Principal {
    Admin,
    Key { name: String, policy: Policy },
}

impl Principal {
    /// Whether it may do `action` on `resource` (for [`Refine::PerItem`] handlers).
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        match self {
            Principal::Admin => true,
            Principal::Key { policy, .. } => policy.allows(action, resource),
        }
    }

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
    // One authorization path: a SigV4 signature (AWS-style callers) or a bearer token
    // names the principal; the same rule and policy check follow.
    let authenticated = if super::aws::sigv4::is_signed(req.uri(), req.headers()) {
        // Boxed: the SigV4 path's state (claim, buffered body) stays out of every
        // request's middleware future.
        Box::pin(super::aws::authenticate(&p, req)).await
    } else {
        let presented = crate::access::bearer(req.headers()).map(str::to_string);
        match (presented, super::aws::is_aws_path(&path)) {
            (None, true) => Err(ApiError::MissingAuthenticationToken),
            (presented, _) => authenticate(&p, presented).await.map(|pr| (req, pr)),
        }
    };
    let (req, principal) = match authenticated {
        Ok(pair) => pair,
        Err(e) => {
            let resp = e.into_response();
            if mutating {
                audit(&p, "unauthenticated", &method, &path, "-", "-", resp.status().as_u16()).await;
            }
            return Ok(resp);
        }
    };
    let rule =
        req.extensions().get::<MatchedPath>().and_then(|m| super::routes::find(&method, m.as_str())).map(|r| &r.rule);
    let (req, checks) = match rule {
        Some(rule) => required(rule, req, p.config.max_upload_bytes / 3 * 4 + MAX_INSPECTED_BODY).await?,
        None => (req, Vec::new()),
    };
    let denied = match &principal {
        Principal::Admin => None,
        Principal::Key { policy, .. } => {
            if checks.is_empty() && rule.is_none_or(|r| r.refine != Refine::PerItem) {
                Some(format!("{} {} is not open to API keys (admin token only)", method, path))
            } else {
                checks.iter().find(|(a, r)| !policy.allows(a, r)).map(|(a, r)| {
                    format!("AccessDenied: key '{}' is not allowed to perform {a} on {r}", principal.name())
                })
            }
        }
    };
    // Every permission checked, in order: the i-th action was checked on the i-th
    // resource (a resource checked for several actions is listed once per action).
    let action = checks.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>().join(",");
    let resource = checks.iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>().join(",");
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
    match p.read(move |tx| tx.key_by_hash(&hash)).await? {
        Some(k) => Ok(Principal::Key { name: k.name, policy: k.policy }),
        None => Err(invalid()),
    }
}

/// The (action, resource) pairs `req` needs, with the request given back (its body
/// re-attached when it had to be read): the rule's own pair, then one per
/// permission-bearing field the request carries ([`FIELD_RULES`]). Empty when a resource
/// can't be named, which denies every key. This is the one place that maps a request to
/// the permissions it needs.
async fn required(rule: &Rule, req: Request, large: usize) -> Result<(Request, Vec<(String, String)>), ApiError> {
    let (mut parts, body) = req.into_parts();
    let mut params = match Path::<HashMap<String, String>>::from_request_parts(&mut parts, &()).await {
        Ok(Path(p)) => p,
        Err(_) => return Ok((Request::from_parts(parts, body), Vec::new())),
    };
    // The AWS façade names functions as Lambda does (an ARN, `NAME:QUALIFIER`): the rule
    // sees the same `function/NAME` as the `/v1` twin; an invocation's qualifier is kept
    // for `Refine::Invoke`.
    if super::aws::is_aws_path(parts.uri.path()) {
        if let Some(raw) = params.get_mut("name") {
            let plain = super::aws::unarn(raw);
            *raw = match rule.refine {
                Refine::Invoke | Refine::DeleteFunction => plain.to_string(),
                _ => crate::model::qualifier::split_qualified(plain).0.to_string(),
            };
        }
    }
    // A decoded parameter holding `/` or `*` could impersonate another resource; the
    // handlers reject such names anyway, so refusing them to keys costs nothing.
    if params.values().any(|v| segment(v).is_none()) {
        return Ok((Request::from_parts(parts, body), Vec::new()));
    }
    // Bodies are read wherever a handler could read them as JSON: every method that
    // carries one, on every route whose body is JSON.
    let reads_body =
        rule.body != BodyKind::Raw && !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let limit = if rule.body == BodyKind::LargeJson { large } else { MAX_INSPECTED_BODY };
    let (body, json) = if reads_body {
        let bytes = read_limited(body, limit, "Request body").await?;
        // Unparseable JSON has no fields to check; the handler parses these same bytes
        // with the same parser and refuses them (or, on a route that takes no body,
        // ignores them).
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (Body::from(bytes), json)
    } else {
        (body, Value::Null)
    };
    let query: Vec<(String, String)> = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let checks = rule_checks(rule, &params, &json, &query)
        .and_then(|mut checks| {
            // A per-item route checks nothing itself, but the fields it is sent still need
            // their permissions (`?environment=` on every route).
            let base = checks
                .first()
                .map(|(_, r)| r.clone())
                .or_else(|| (rule.refine == Refine::PerItem).then(|| rule.resource.to_string()))?;
            for f in FIELD_RULES {
                checks.extend(field_check(f, &base, &json, &query)?);
            }
            Some(checks)
        })
        .unwrap_or_default();
    Ok((Request::from_parts(parts, body), checks))
}

/// THE check on every value placed in a resource string (path parameters, body names, the
/// qualifier, field values): not empty, no `/` (it would name another resource's path) and
/// no `*` (a policy wildcard). `None`: the value can't be named, which denies every key.
fn segment(v: &str) -> Option<&str> {
    (!v.is_empty() && !v.contains(['/', '*'])).then_some(v)
}

/// The rule's own pairs. `None`: the resource can't be named.
fn rule_checks(
    rule: &Rule,
    params: &HashMap<String, String>,
    json: &Value,
    query: &[(String, String)],
) -> Option<Vec<(String, String)>> {
    let base = fill(rule.resource, params);
    let action = rule.action.to_string();
    // `name` (`/v1`) or Lambda's `FunctionName`.
    let body_name =
        json.get("name").or_else(|| json.get("FunctionName")).and_then(Value::as_str).map(super::aws::unarn);
    let name_in_body = |kind: &str| match body_name.and_then(segment) {
        Some(n) => format!("{kind}/{n}"),
        None => format!("{kind}/*"),
    };
    Some(match rule.refine {
        Refine::None => vec![(action, base)],
        Refine::PerItem => Vec::new(),
        Refine::CreateFunction => vec![(action, name_in_body("function"))],
        Refine::CreateKey => vec![(action, name_in_body("key"))],
        Refine::AlsoDeploy => vec![(action, base.clone()), ("api:Deploy".into(), base)],
        Refine::Invoke => {
            let (name, q) = crate::model::qualifier::split_qualified(params.get("name").map_or("", String::as_str));
            // `?qualifier=` (`/v1`) or `?Qualifier=` (Lambda's).
            let q =
                q.or_else(|| query.iter().find(|(k, _)| k == "qualifier" || k == "Qualifier").map(|(_, v)| v.as_str()));
            let resource = match q {
                None | Some("") => format!("function/{name}"),
                Some(q) if q == "$LATEST" || q.bytes().all(|b| b.is_ascii_digit()) => {
                    format!("function/{name}/version/{q}")
                }
                Some(q) => format!("function/{name}/alias/{}", segment(q)?),
            };
            vec![(action, resource)]
        }
        Refine::DeleteFunction => {
            let (name, q) = crate::model::qualifier::split_qualified(params.get("name").map_or("", String::as_str));
            let q = q.or_else(|| query.iter().find(|(k, _)| k == "Qualifier").map(|(_, v)| v.as_str()));
            match q {
                None | Some("") => vec![(action, format!("function/{name}"))],
                Some(q) => vec![("function:DeleteVersion".into(), format!("function/{name}/version/{}", segment(q)?))],
            }
        }
        Refine::CreateAlias => match json.get("Name").and_then(Value::as_str).and_then(segment) {
            Some(alias) => vec![(action, format!("{base}/alias/{alias}"))],
            None => vec![(action, format!("{base}/alias/*"))],
        },
        Refine::CreateStage => match json.get("stageName").and_then(Value::as_str).and_then(segment) {
            Some(stage) => vec![(action, format!("{base}/stage/{stage}"))],
            None => vec![(action, format!("{base}/stage/*"))],
        },
        Refine::PatchOperations => {
            let moves = json.get("patchOperations").and_then(Value::as_array).is_some_and(|ops| {
                ops.iter().any(|o| {
                    ["path", "from"].iter().any(|k| {
                        o.get(*k)
                            .and_then(Value::as_str)
                            .is_some_and(|p| p.starts_with("/deploymentId") || p.starts_with("/canarySettings"))
                    })
                })
            });
            match moves {
                true => vec![(action, base.clone()), ("api:Deploy".into(), base)],
                false => vec![(action, base)],
            }
        }
        Refine::Deploy => match json.get("stage").or_else(|| json.get("stageName")) {
            None | Some(Value::Null) => vec![(action, base)],
            Some(Value::String(s)) => vec![(action, format!("{base}/stage/{}", segment(s)?))],
            Some(_) => return None,
        },
    })
}

/// The pair field rule `f` adds to this request (none when the request doesn't carry the
/// field or carries its free value). `None`: the field is there but can't be named.
fn field_check(
    f: &FieldRule,
    base: &str,
    json: &Value,
    query: &[(String, String)],
) -> Option<Option<(String, String)>> {
    let value: Option<String> = match f.source {
        Source::Body => match json.get(f.field) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => None,
            Some(Value::String(s)) => Some(s.clone()),
            // A non-string value can only stand for "present" (e.g. a canary object).
            Some(_) if !f.resource.contains("{value}") => Some(String::new()),
            Some(_) => return None,
        },
        // A repeated parameter: every value is checked would need several pairs; the
        // handlers read the first, so the first is the one checked, and a repeat is refused.
        Source::Query => {
            let mut vals = query.iter().filter(|(k, _)| k == f.field).map(|(_, v)| v);
            let first = vals.next().cloned();
            if vals.next().is_some() {
                return None;
            }
            first
        }
    };
    let Some(value) = value else { return Some(None) };
    if f.free_value == Some(value.as_str()) {
        return Some(None);
    }
    let resource = if f.resource.contains("{value}") {
        f.resource.replace("{value}", segment(&value)?)
    } else {
        f.resource.replace("{base}", base)
    };
    Some(Some((f.action.to_string(), resource)))
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
    if let Err(e) = crate::ops::audit::record(p, entry).await {
        tracing::error!(error = %e, "could not write the audit log entry");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::policy::ACTIONS;

    #[test]
    fn every_rule_names_a_known_action_and_is_unique() {
        let routes = super::super::routes::ROUTES;
        for (i, r) in routes.iter().enumerate() {
            assert!(ACTIONS.contains(&r.rule.action), "{} {}: unknown action {}", r.method, r.path, r.rule.action);
            assert!(
                routes[..i].iter().all(|o| o.method != r.method || o.path != r.path),
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
