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

/// A piece of an HTTP proxy integration's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlPart {
    Text(String),
    /// `${stageVariables.NAME}`
    Var(String),
    /// `{name}` (or `{name+}`): the route's path parameter, raw as the request had it.
    Param(String),
}

/// Longest HTTP proxy integration URL (API Gateway's integration URI limit).
pub const MAX_BACKEND_URL_CHARS: usize = 2048;

/// An HTTP proxy integration's URL template:
/// `http[s]://HOST[:PORT]/PATH[?QUERY]`. The scheme is literal (`http` or `https`); stage
/// variables (`${stageVariables.NAME}`) may form the host (their value may carry a
/// port, `127.0.0.1:8081`), the path and the query, but can't stand alone for the port;
/// the route's path parameters (`{name}`) may appear only in the path. No user info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendUrl {
    pub https: bool,
    /// Index in `parts` where the path (or query) begins; before it, the authority.
    pub path_start: usize,
    pub parts: Vec<UrlPart>,
}

impl BackendUrl {
    pub fn parse(url: &str) -> Result<Self, Invalid> {
        let bad = |why: &str| Invalid::new(format!("Invalid integration URL '{}': {why}", truncate(url)));
        if url.len() > MAX_BACKEND_URL_CHARS {
            return Err(bad(&format!("it is longer than {MAX_BACKEND_URL_CHARS} characters")));
        }
        let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad("it must start with http:// or https:// (a stage variable can't stand for the scheme)"));
        };
        if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it must not contain spaces or control characters"));
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(split);
        if authority.is_empty() {
            return Err(bad("it has no host"));
        }
        if authority.contains('@') {
            return Err(bad("user info (user@host) is not allowed"));
        }
        let mut parts = Self::split(authority, false).map_err(|e| bad(&e))?;
        for w in parts.windows(2) {
            if let [UrlPart::Text(t), UrlPart::Var(v)] = w {
                if t.ends_with(':') && !t.ends_with("::") {
                    return Err(bad(&format!("a stage variable (${{stageVariables.{v}}}) can't stand for the port; put the port in the host variable's value")));
                }
            }
        }
        if let [UrlPart::Text(t)] = parts.as_slice() {
            let a: http::uri::Authority = t.parse().map_err(|_| bad("the host is not a valid host[:port]"))?;
            if a.host().is_empty() || (a.as_str() != a.host() && a.port_u16().is_none()) {
                return Err(bad("the host is not a valid host[:port]"));
            }
        }
        let path_start = parts.len();
        let (path, query) = match tail.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (tail, None),
        };
        parts.extend(Self::split(path, true).map_err(|e| bad(&e))?);
        if let Some(q) = query {
            if q.contains('#') {
                return Err(bad("a fragment (#) is not allowed"));
            }
            parts.push(UrlPart::Text("?".into()));
            parts.extend(Self::split(q, false).map_err(|e| bad(&e))?);
        }
        if path.contains('#') {
            return Err(bad("a fragment (#) is not allowed"));
        }
        Ok(BackendUrl { https, path_start, parts })
    }

    /// Text, `${stageVariables.NAME}` and (where `params`) `{name}` / `{name+}`.
    fn split(s: &str, params: bool) -> Result<Vec<UrlPart>, String> {
        let mut out = Vec::new();
        let mut text = String::new();
        let mut rest = s;
        while let Some(i) = rest.find(['$', '{', '}']) {
            text.push_str(&rest[..i]);
            let at = &rest[i..];
            let (part, len) = if let Some(inner) = at.strip_prefix(VAR_PREFIX) {
                let end = inner.find('}').ok_or("unclosed ${")?;
                let name = &inner[..end];
                validate_variable_name(name).map_err(|e| e.0)?;
                (UrlPart::Var(name.to_string()), VAR_PREFIX.len() + end + 1)
            } else if at.starts_with("${") {
                return Err("only ${stageVariables.NAME} may be substituted".into());
            } else if let Some(after) = at.strip_prefix('$') {
                text.push('$');
                rest = after;
                continue;
            } else if let Some(inner) = at.strip_prefix('{') {
                let end = inner.find('}').ok_or("unclosed {")?;
                let name = inner[..end].strip_suffix('+').unwrap_or(&inner[..end]);
                if !params {
                    return Err("path parameters ({name}) may appear only in the path".into());
                }
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!("'{{{}}}' is not a path parameter", &inner[..end]));
                }
                (UrlPart::Param(name.to_string()), end + 2)
            } else {
                return Err("unbalanced }".into());
            };
            if !text.is_empty() {
                out.push(UrlPart::Text(std::mem::take(&mut text)));
            }
            out.push(part);
            rest = &at[len..];
        }
        text.push_str(rest);
        if !text.is_empty() {
            out.push(UrlPart::Text(text));
        }
        Ok(out)
    }

    /// The path parameters it uses.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| if let UrlPart::Param(n) = p { Some(n.as_str()) } else { None })
    }
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
    /// HTTP proxy integration (API Gateway's `HTTP_PROXY`): the request goes to `url`
    /// (see [`BackendUrl`]) and the backend's response comes back as it is.
    #[serde(rename = "http_proxy")]
    HttpProxy {
        url: String,
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

fn check_timeout(timeout_ms: &Option<u32>) -> Result<(), Invalid> {
    match timeout_ms {
        Some(t) if !(MIN_INTEGRATION_TIMEOUT_MS..=MAX_INTEGRATION_TIMEOUT_MS).contains(t) => Err(Invalid::new(format!(
            "Integration timeout_ms {t} is out of range: it must be between {MIN_INTEGRATION_TIMEOUT_MS} and {MAX_INTEGRATION_TIMEOUT_MS}"
        ))),
        _ => Ok(()),
    }
}

impl Integration {
    /// Checks the integration on its own and against the route's path `path` (the path
    /// parameters an HTTP proxy URL uses must be the route's).
    pub fn validate_for(&self, path: &RoutePath) -> Result<(), Invalid> {
        self.validate()?;
        if let Integration::HttpProxy { url, .. } = self {
            let parsed = BackendUrl::parse(url)?;
            for name in parsed.params() {
                let declared =
                    path.segments().iter().any(|s| matches!(s, Segment::Param(n) | Segment::Greedy(n) if n == name));
                if !declared {
                    return Err(Invalid::new(format!(
                        "Invalid integration URL '{}': path parameter {{{name}}} is not a variable of the route path {}",
                        truncate(url),
                        path.as_str()
                    )));
                }
            }
        }
        Ok(())
    }

    /// The stage variables the integration uses (for an HTTP proxy: every one of them
    /// must be set on a stage that serves it).
    pub fn stage_variables(&self) -> Vec<String> {
        let parts = match self {
            Integration::HttpProxy { url, .. } => match BackendUrl::parse(url) {
                Ok(u) => u.parts,
                Err(_) => return Vec::new(),
            },
            _ => return Vec::new(),
        };
        let mut names: Vec<String> =
            parts.into_iter().filter_map(|p| if let UrlPart::Var(v) = p { Some(v) } else { None }).collect();
        names.sort();
        names.dedup();
        names
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        match self {
            Integration::HttpProxy { url, timeout_ms } => {
                check_timeout(timeout_ms)?;
                BackendUrl::parse(url).map(drop)
            }
            Integration::Function { target, timeout_ms } => {
                check_timeout(timeout_ms)?;
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

    #[test]
    fn backend_urls() {
        let u = BackendUrl::parse("http://${stageVariables.backendHost}/orders/{proxy}?v=${stageVariables.v}").unwrap();
        assert!(!u.https);
        assert_eq!(u.path_start, 1);
        assert_eq!(
            u.parts,
            vec![
                UrlPart::Var("backendHost".into()),
                UrlPart::Text("/orders/".into()),
                UrlPart::Param("proxy".into()),
                UrlPart::Text("?".into()),
                UrlPart::Text("v=".into()),
                UrlPart::Var("v".into()),
            ]
        );
        assert!(BackendUrl::parse("https://api.example.com").is_ok());
        assert!(BackendUrl::parse("https://127.0.0.1:8443/x/{id+}").is_ok());
        let err = |u: &str| BackendUrl::parse(u).map(|_| panic!("{u} parses")).unwrap_err().0;
        assert!(err("${stageVariables.scheme}://x/").contains("can't stand for the scheme"));
        assert!(err("ftp://x/").contains("must start with http"));
        assert!(err("http://x:${stageVariables.port}/").contains("can't stand for the port"));
        assert!(err("http://user@x/").contains("user info"));
        assert!(err("http:///path").contains("no host"));
        assert!(err("http://:80/").contains("not a valid host"));
        assert!(err("http://{host}/").contains("only in the path"));
        assert!(err("http://x/a#frag").contains("fragment"));
        assert!(err("http://x/${env.y}").contains("only ${stageVariables.NAME}"));
        assert!(err("http://x:notaport/").contains("not a valid host"));
        let path = RoutePath::parse("/orders/{proxy+}").unwrap();
        let i = |url: &str| Integration::HttpProxy { url: url.into(), timeout_ms: None };
        assert!(i("http://h/o/{proxy}").validate_for(&path).is_ok());
        assert!(i("http://h/o/{id}").validate_for(&path).unwrap_err().0.contains("{id} is not a variable"));
        assert_eq!(
            i("http://${stageVariables.a}/${stageVariables.b}/${stageVariables.a}").stage_variables(),
            vec!["a", "b"]
        );
        assert!(Integration::HttpProxy { url: "http://h/".into(), timeout_ms: Some(30_000) }.validate().is_err());
    }
}
