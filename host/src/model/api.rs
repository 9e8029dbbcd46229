//! API Gateway concepts: API ids, stage names and variables, route paths and methods,
//! integrations with `${stageVariables.NAME}` templates, with API Gateway's rules.

use super::names::truncate;
use super::{FunctionName, Invalid, Qualifier};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// 10 random lowercase alphanumerics, like API Gateway's REST API ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ApiId(String);

const ID_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A random id of `len` lowercase alphanumerics (APIs, deployments, routes).
pub fn random_id(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len).map(|_| ID_CHARS[rng.random_range(0..ID_CHARS.len())] as char).collect()
}

impl ApiId {
    pub fn generate() -> Self {
        ApiId(random_id(10))
    }
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.len() != 10 || !s.bytes().all(|b| ID_CHARS.contains(&b)) {
            return Err(Invalid::new(format!(
                "Invalid API id '{}': expected 10 lowercase letters or digits",
                truncate(s)
            )));
        }
        Ok(ApiId(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Deployment ids: 8 lowercase alphanumerics.
pub fn parse_deployment_id(s: &str) -> Result<String, Invalid> {
    if s.len() != 8 || !s.bytes().all(|b| ID_CHARS.contains(&b)) {
        return Err(Invalid::new(format!("Invalid deployment id '{}'", truncate(s))));
    }
    Ok(s.to_string())
}

/// Stage names: `[A-Za-z0-9_-]{1,128}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StageName(String);

impl StageName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.is_empty() || s.len() > 128 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(Invalid::new(format!(
                "Invalid stage name '{}': it must match [A-Za-z0-9_-]{{1,128}}",
                truncate(s)
            )));
        }
        Ok(StageName(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_newtype_impls!(ApiId);
string_newtype_impls!(StageName);

pub const MAX_STAGE_VARIABLES: usize = 100;

/// Variable names `[A-Za-z0-9_]{1,64}`, values `[A-Za-z0-9-._~:/?#&=,]{1,512}`, ≤ 100.
pub fn validate_variables(vars: &BTreeMap<String, String>) -> Result<(), Invalid> {
    if vars.len() > MAX_STAGE_VARIABLES {
        return Err(Invalid::new(format!(
            "A stage can have at most {MAX_STAGE_VARIABLES} variables ({} given)",
            vars.len()
        )));
    }
    for (k, v) in vars {
        validate_variable_name(k)?;
        if v.is_empty() || v.len() > 512 || !v.chars().all(|c| c.is_ascii_alphanumeric() || "-._~:/?#&=,".contains(c)) {
            return Err(Invalid::new(format!(
                "Invalid value for stage variable '{k}': it must match [A-Za-z0-9-._~:/?#&=,]{{1,512}}"
            )));
        }
    }
    Ok(())
}

pub fn validate_variable_name(k: &str) -> Result<(), Invalid> {
    if k.is_empty() || k.len() > 64 || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Invalid::new(format!(
            "Invalid stage variable name '{}': it must match [A-Za-z0-9_]{{1,64}}",
            truncate(k)
        )));
    }
    Ok(())
}

/// HTTP methods a route may declare; `ANY` matches all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
    Any,
}

impl Method {
    /// The concrete methods (everything `ANY` stands for).
    pub const CONCRETE: [Method; 7] =
        [Method::Get, Method::Post, Method::Put, Method::Patch, Method::Delete, Method::Head, Method::Options];

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Ok(match s {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            "OPTIONS" => Method::Options,
            "ANY" => Method::Any,
            other => {
                return Err(Invalid::new(format!(
                    "Invalid method '{}': expected GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY",
                    truncate(other)
                )))
            }
        })
    }

    pub fn from_http(m: &http::Method) -> Option<Self> {
        Method::parse(m.as_str()).ok().filter(|m| *m != Method::Any)
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
            Method::Any => "ANY",
        }
    }

    /// Bit for the concrete method (ANY has none).
    pub fn bit(&self) -> u8 {
        match self {
            Method::Any => 0,
            m => 1 << (*m as u8),
        }
    }
}

impl TryFrom<String> for Method {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Method::parse(&s)
    }
}
impl From<Method> for String {
    fn from(m: Method) -> String {
        m.as_str().to_string()
    }
}

/// One segment of a route path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Literal(String),
    /// `{name}`
    Param(String),
    /// `{name+}`: the rest of the path; only last.
    Greedy(String),
}

/// A route path template: `/`, `/orders/{id}`, `/{proxy+}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoutePath {
    text: String,
    segments: Vec<Segment>,
}

/// An API's name: 1 to 128 characters of display text, not blank, no control characters
/// and no path separators (`/`, `\\`) — a name appears in listings, logs and file names of
/// exports, where `../../etc` or a NUL would be read as something else.
pub fn validate_api_name(name: &str) -> Result<(), Invalid> {
    let bad = |why: &str| Err(Invalid::new(format!("Invalid API name '{}': {why}", truncate(name))));
    if name.trim().is_empty() || name.chars().count() > 128 {
        return bad("it must be 1 to 128 characters");
    }
    if name.chars().any(|c| c.is_control()) {
        return bad("it must not contain control characters");
    }
    if name.contains('/') || name.contains('\\') {
        return bad("it must not contain / or \\");
    }
    Ok(())
}

impl RoutePath {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let bad = |why: &str| Invalid::new(format!("Invalid route path '{}': {why}", truncate(s)));
        if !s.starts_with('/') {
            return Err(bad("it must start with /"));
        }
        if s.len() > 1024 {
            return Err(bad("it is longer than 1024 characters"));
        }
        let mut segments = Vec::new();
        if s != "/" {
            for part in s[1..].split('/') {
                if part.is_empty() {
                    return Err(bad("empty path segment"));
                }
                if let Some(Segment::Greedy(g)) = segments.last() {
                    return Err(Invalid::new(format!(
                        "Cannot create a child of a resource with a greedy path variable: {{{g}+}}"
                    )));
                }
                let seg = if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    let (name, greedy) = match inner.strip_suffix('+') {
                        Some(n) => (n, true),
                        None => (inner, false),
                    };
                    if name.is_empty()
                        || name.len() > 64
                        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        return Err(bad("path variable names must match [A-Za-z0-9_]{1,64}"));
                    }
                    if greedy {
                        Segment::Greedy(name.to_string())
                    } else {
                        Segment::Param(name.to_string())
                    }
                } else {
                    // The gateway removes dot segments from request paths before matching
                    // (RFC 3986 §5.2.4), so a route with one could never match.
                    if part == "." || part == ".." {
                        return Err(bad("dot segments (. and ..) are not allowed"));
                    }
                    if !part.chars().all(|c| c.is_ascii_alphanumeric() || "-._~:@!$&'()*,;=".contains(c)) {
                        return Err(bad("literal segments may use letters, digits and -._~:@!$&'()*,;="));
                    }
                    Segment::Literal(part.to_string())
                };
                segments.push(seg);
            }
        }
        let mut names = std::collections::HashSet::new();
        for seg in &segments {
            if let Segment::Param(n) | Segment::Greedy(n) = seg {
                if !names.insert(n.clone()) {
                    return Err(bad("a path variable name is used twice"));
                }
            }
        }
        Ok(RoutePath { text: s.to_string(), segments })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }
}

impl TryFrom<String> for RoutePath {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        RoutePath::parse(&s)
    }
}
impl From<RoutePath> for String {
    fn from(p: RoutePath) -> String {
        p.text
    }
}

/// Checks the one-variable-sibling rule across a set of paths: under one parent, all
/// variable segments (`{a}`, `{b+}`) must be the same one.
pub fn check_siblings<'a>(paths: impl IntoIterator<Item = &'a RoutePath>) -> Result<(), Invalid> {
    let mut seen: std::collections::HashMap<Vec<Segment>, Segment> = std::collections::HashMap::new();
    for p in paths {
        for i in 0..p.segments.len() {
            let seg = &p.segments[i];
            if matches!(seg, Segment::Literal(_)) {
                continue;
            }
            let parent = p.segments[..i].to_vec();
            match seen.get(&parent) {
                Some(existing) if existing != seg => {
                    let shown = |s: &Segment| match s {
                        Segment::Param(n) => format!("{{{n}}}"),
                        Segment::Greedy(n) => format!("{{{n}+}}"),
                        Segment::Literal(l) => l.clone(),
                    };
                    return Err(Invalid::new(format!(
                        "A sibling ({}) of this resource already has a variable path part -- only one is allowed",
                        shown(existing)
                    )));
                }
                Some(_) => {}
                None => {
                    seen.insert(parent, seg.clone());
                }
            }
        }
    }
    Ok(())
}

/// A piece of an integration target template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    Text(String),
    Var(String),
}

/// `orders:${stageVariables.alias}`: text with stage-variable references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
}

const VAR_PREFIX: &str = "${stageVariables.";

impl Template {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(i) = rest.find("${") {
            if i > 0 {
                parts.push(TemplatePart::Text(rest[..i].to_string()));
            }
            let after = &rest[i..];
            let Some(inner) = after.strip_prefix(VAR_PREFIX) else {
                return Err(Invalid::new(format!(
                    "Invalid target '{}': only ${{stageVariables.NAME}} may be substituted",
                    truncate(s)
                )));
            };
            let end = inner
                .find('}')
                .ok_or_else(|| Invalid::new(format!("Invalid target '{}': unclosed ${{", truncate(s))))?;
            let name = &inner[..end];
            validate_variable_name(name)?;
            parts.push(TemplatePart::Var(name.to_string()));
            rest = &inner[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// Substitutes the variables; `Err(name)` names the first one that is missing.
    pub fn render(&self, vars: &BTreeMap<String, String>) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                TemplatePart::Text(t) => out.push_str(t),
                TemplatePart::Var(v) => out.push_str(vars.get(v).filter(|v| !v.is_empty()).ok_or_else(|| v.clone())?),
            }
        }
        Ok(out)
    }

    pub fn has_variables(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, TemplatePart::Var(_)))
    }
}

/// A fully substituted function target: `name`, `name:7`, `name:ALIAS`.
pub fn parse_target(s: &str) -> Result<(FunctionName, Qualifier), Invalid> {
    let (f, q) = super::qualifier::split_qualified(s);
    Ok((FunctionName::parse(f)?, Qualifier::parse(q)?))
}

/// What a route does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Integration {
    /// Lambda proxy integration.
    Function {
        target: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u32>,
    },
    /// A fixed response.
    Mock {
        status: u16,
        #[serde(default)]
        body: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
    },
}

/// Integration timeout bounds (API Gateway: 50 ms – 29 s, default 29 s).
pub const MIN_INTEGRATION_TIMEOUT_MS: u32 = 50;
pub const MAX_INTEGRATION_TIMEOUT_MS: u32 = 29_000;

impl Integration {
    pub fn validate(&self) -> Result<(), Invalid> {
        match self {
            Integration::Function { target, timeout_ms } => {
                if let Some(t) = timeout_ms {
                    if !(MIN_INTEGRATION_TIMEOUT_MS..=MAX_INTEGRATION_TIMEOUT_MS).contains(t) {
                        return Err(Invalid::new(format!(
                            "Integration timeout_ms {t} is out of range: it must be between {MIN_INTEGRATION_TIMEOUT_MS} and {MAX_INTEGRATION_TIMEOUT_MS}"
                        )));
                    }
                }
                let tpl = Template::parse(target)?;
                if !tpl.has_variables() {
                    parse_target(target)?;
                }
                Ok(())
            }
            Integration::Mock { status, headers, body } => {
                // 1xx can't be a final response.
                if !(200..=599).contains(status) {
                    return Err(Invalid::new(format!("Mock status {status} is not a final HTTP status (200–599)")));
                }
                if body.len() > 64 * 1024 {
                    return Err(Invalid::new("Mock body is larger than 64 KiB"));
                }
                for (k, v) in headers {
                    if http::HeaderName::from_bytes(k.as_bytes()).is_err() || http::HeaderValue::from_str(v).is_err() {
                        return Err(Invalid::new(format!("Invalid mock header '{}'", truncate(k))));
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_paths() {
        assert_eq!(RoutePath::parse("/").unwrap().segments().len(), 0);
        assert!(RoutePath::parse("/orders/{id}").is_ok());
        assert!(RoutePath::parse("/{proxy+}").is_ok());
        assert!(RoutePath::parse("orders").is_err());
        assert!(RoutePath::parse("/a//b").is_err());
        assert!(RoutePath::parse("/a/{x}/{x}").is_err());
        let e = RoutePath::parse("/{proxy+}/child").unwrap_err();
        assert_eq!(e.0, "Cannot create a child of a resource with a greedy path variable: {proxy+}");
    }

    #[test]
    fn siblings() {
        let p = |s: &str| RoutePath::parse(s).unwrap();
        assert!(check_siblings(&[p("/orders/{id}"), p("/orders/{id}/items"), p("/orders/list")]).is_ok());
        let e = check_siblings(&[p("/{proxy+}"), p("/{id}")]).unwrap_err();
        assert_eq!(
            e.0,
            "A sibling ({proxy+}) of this resource already has a variable path part -- only one is allowed"
        );
        assert!(check_siblings(&[p("/a/{x}"), p("/b/{y}")]).is_ok());
    }

    #[test]
    fn templates() {
        let t = Template::parse("orders:${stageVariables.alias}").unwrap();
        let mut vars = BTreeMap::new();
        assert_eq!(t.render(&vars), Err("alias".to_string()));
        vars.insert("alias".into(), "STABLE".into());
        assert_eq!(t.render(&vars).unwrap(), "orders:STABLE");
        let t = Template::parse("${stageVariables.fn}").unwrap();
        vars.insert("fn".into(), "x".into());
        assert_eq!(t.render(&vars).unwrap(), "x");
        assert!(Template::parse("a:${env.x}").is_err());
        assert!(Template::parse("a:${stageVariables.x").is_err());
        assert!(Template::parse("a:${stageVariables.b-c}").is_err());
        assert!(Integration::Function { target: "bad name".into(), timeout_ms: None }.validate().is_err());
        assert!(Integration::Function { target: "f:${stageVariables.a}".into(), timeout_ms: Some(10) }
            .validate()
            .is_err());
    }
}
