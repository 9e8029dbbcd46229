//! Integrations as a stage sees them. Everything that depends only on the stage (its
//! variables) and the deployment (its routes) — stage-variable substitution, target
//! parsing, the resource-policy check — is worked out when the snapshot is built, so a
//! request does no templating, no ARN formatting and no pattern matching.

use crate::model::api::{parse_target, Integration, Method, Template, MAX_INTEGRATION_TIMEOUT_MS};
use crate::model::{FunctionName, Qualifier, VersionId};
use crate::store::{PermissionRecord, RouteRecord};
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

pub enum ResolvedIntegration {
    Mock { status: u16, body: Bytes, headers: Vec<(HeaderName, HeaderValue)> },
    Function(Result<FunctionTarget, String>),
    HttpProxy(Result<super::http_proxy::ProxyTarget, String>),
}

impl ResolvedIntegration {
    /// See [`crate::snapshot::Snapshot::describe`].
    pub fn describe(&self) -> String {
        match self {
            ResolvedIntegration::Mock { status, body, .. } => format!("mock {status} {}b", body.len()),
            ResolvedIntegration::Function(Ok(t)) => {
                format!("function {}:{} allowed={:#b} {:?}", t.function, t.qualifier_text, t.allowed, t.timeout)
            }
            ResolvedIntegration::Function(Err(e)) => format!("function error {e}"),
            ResolvedIntegration::HttpProxy(Ok(_)) => "proxy".to_string(),
            ResolvedIntegration::HttpProxy(Err(e)) => format!("proxy error {e}"),
        }
    }
}

pub struct FunctionTarget {
    pub function: FunctionName,
    pub qualifier: Qualifier,
    /// As the target names it (`$LATEST`, `7`, `STABLE`), for the function's environment.
    pub qualifier_text: String,
    /// Concrete methods (bits of `Method::bit`) the function's policy lets this stage and
    /// route invoke it with.
    pub allowed: u8,
    pub timeout: Duration,
}

/// Statements grouped by (function, qualifier key), where the key is `""` for the
/// unqualified function (which also covers `$LATEST`).
pub type Policies<'a> = HashMap<(&'a str, &'a str), Vec<&'a PermissionRecord>>;

pub fn group_policies(perms: &[PermissionRecord]) -> Policies<'_> {
    let mut m: Policies<'_> = HashMap::new();
    for p in perms {
        m.entry((p.function.as_str(), p.qualifier.as_deref().unwrap_or(""))).or_default().push(p);
    }
    m
}

pub fn resolve(
    api_id: &str,
    stage: &str,
    route: &RouteRecord,
    vars: &BTreeMap<String, String>,
    policies: &Policies<'_>,
) -> ResolvedIntegration {
    match &route.integration {
        Integration::Mock { status, body, headers } => ResolvedIntegration::Mock {
            status: *status,
            body: Bytes::from(body.clone()),
            headers: headers
                .iter()
                .filter_map(|(k, v)| {
                    Some((
                        crate::runtime::executor::remap(HeaderName::from_bytes(k.as_bytes()).ok()?),
                        HeaderValue::from_str(v).ok()?,
                    ))
                })
                .collect(),
        },
        Integration::HttpProxy { url, timeout_ms } => ResolvedIntegration::HttpProxy(super::http_proxy::resolve(
            url,
            Duration::from_millis(timeout_ms.unwrap_or(MAX_INTEGRATION_TIMEOUT_MS).into()),
            vars,
            stage,
        )),
        Integration::Function { target, timeout_ms } => ResolvedIntegration::Function(function_target(
            api_id,
            stage,
            route,
            target,
            timeout_ms.unwrap_or(MAX_INTEGRATION_TIMEOUT_MS),
            vars,
            policies,
        )),
    }
}

fn function_target(
    api_id: &str,
    stage: &str,
    route: &RouteRecord,
    target: &str,
    timeout_ms: u32,
    vars: &BTreeMap<String, String>,
    policies: &Policies<'_>,
) -> Result<FunctionTarget, String> {
    let template = Template::parse(target).map_err(|e| e.0)?;
    let rendered = template.render(vars).map_err(|v| {
        format!("Execution failed due to configuration error: stage variable '{v}' used in the integration target '{target}' is not set on stage '{stage}'")
    })?;
    let (function, qualifier) = parse_target(&rendered).map_err(|e| {
        format!("Execution failed due to configuration error: integration target '{rendered}' is invalid: {}", e.0)
    })?;
    let key = match &qualifier {
        Qualifier::Version(VersionId::Latest) => String::new(),
        q => q.to_string(),
    };
    let principal_ok = |p: &str| p == "*" || p.strip_prefix("api:") == Some(api_id);
    let statements = policies.get(&(function.as_str(), key.as_str())).map(Vec::as_slice).unwrap_or(&[]);
    let methods: &[Method] =
        if route.method == Method::Any { &Method::CONCRETE } else { std::slice::from_ref(&route.method) };
    let mut allowed = 0u8;
    for m in methods {
        // The source the statements' patterns are matched against: api-id/stage/METHOD/resource-path.
        let source = format!("{api_id}/{stage}/{}{}", m.as_str(), route.path.as_str());
        if statements.iter().any(|s| principal_ok(&s.principal) && wildcard_match(&s.source, &source)) {
            allowed |= m.bit();
        }
    }
    let qualifier_text = match &qualifier {
        Qualifier::Version(v) => v.to_string(),
        Qualifier::Alias(a) => a.to_string(),
    };
    Ok(FunctionTarget {
        function,
        qualifier,
        qualifier_text,
        allowed,
        timeout: Duration::from_millis(timeout_ms as u64),
    })
}

/// `*` matches any run of characters (including `/`), everything else itself — the
/// semantics of SourceArn patterns. Hand-written: the glob crates treat `?`, `[` and `/`
/// specially, which source patterns must not. Linear-time two-pointer algorithm.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != b'*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::wildcard_match as m;

    #[test]
    fn wildcards() {
        assert!(m("abc/*/GET/*", "abc/prod/GET/{proxy+}"));
        assert!(m("abc/*/*/*", "abc/dev/POST/orders/{id}"));
        assert!(m("*", "anything/at/all"));
        assert!(m("abc/prod/GET/orders", "abc/prod/GET/orders"));
        assert!(!m("abc/prod/GET/orders", "abc/prod/GET/orders/1"));
        assert!(!m("abc/prod/*", "abc/dev/GET/x"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("", ""));
        assert!(!m("", "x"));
    }
}
