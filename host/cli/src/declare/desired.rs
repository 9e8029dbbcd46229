//! The desired state a declaration describes ([`Desired`]): the file read ([`load`]) and
//! validated, every rule checked by the server's own model types (`waygate::model`, the
//! same `validate`/`parse` functions the management API calls), each error with the file,
//! line and column it comes from.

use super::file::{RawFile, MAX_FILE_BYTES};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;
use waygate::model::api::{
    check_siblings, validate_api_name, validate_variables, Integration, Method, RoutePath, StageName,
};
use waygate::model::policy::Policy;
use waygate::model::stage::{CacheSettings, CapacitySettings, ThrottleSettings};
use waygate::model::{AliasName, AliasTarget, CodeHash, FunctionConfig, FunctionConfigPatch, FunctionName, Limits};

// ---- positions and errors --------------------------------------------------------------

/// Where something was declared: 1-based line and column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// Errors found in a file, each with its position (all of them, not only the first).
#[derive(Debug)]
pub struct FileErrors {
    pub file: PathBuf,
    pub errors: Vec<(Pos, String)>,
}

impl fmt::Display for FileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(f, "{} error{} in {}", n, if n == 1 { "" } else { "s" }, self.file.display())?;
        for (pos, msg) in &self.errors {
            write!(f, "\n  {}:{}:{}: {msg}", self.file.display(), pos.line, pos.col)?;
        }
        Ok(())
    }
}

impl std::error::Error for FileErrors {}

/// Line and column (1-based, in characters) of byte `offset` of `text`.
pub fn position(text: &str, offset: usize) -> Pos {
    Lines::new(text).position(offset)
}

/// Where each line of a text starts, to turn byte offsets into positions without
/// rescanning the text each time (a declaration of 1,000 APIs has ~30,000 positions).
struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Lines { text, starts }
    }

    fn position(&self, offset: usize) -> Pos {
        let mut end = offset.min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= end);
        let start = self.starts[line.saturating_sub(1)];
        Pos { line, col: self.text[start..end].chars().count() + 1 }
    }
}

struct Errors<'a> {
    lines: Lines<'a>,
    list: Vec<(Pos, String)>,
}

impl Errors<'_> {
    fn at<T>(&mut self, s: &Spanned<T>, msg: impl Into<String>) {
        let pos = self.lines.position(s.span().start);
        self.list.push((pos, msg.into()));
    }
    fn pos<T>(&self, s: &Spanned<T>) -> Pos {
        self.lines.position(s.span().start)
    }
}

// ---- the desired state -----------------------------------------------------------------

/// A code file: its hash (what the server compares) and where it is.
#[derive(Debug, Clone)]
pub struct Code {
    pub hash: CodeHash,
    pub path: PathBuf,
}

#[derive(Debug)]
pub struct Desired {
    pub file: PathBuf,
    pub functions: BTreeMap<String, DFunction>,
    pub apis: BTreeMap<String, DApi>,
    pub keys: BTreeMap<String, DKey>,
}

#[derive(Debug)]
pub struct DFunction {
    pub pos: Pos,
    pub code: Code,
    pub config: FunctionConfig,
    pub reserved_concurrency: Option<u32>,
    pub versions: Vec<DVersion>,
    pub aliases: BTreeMap<String, DAlias>,
    pub permissions: Vec<DPermission>,
}

#[derive(Debug)]
pub struct DVersion {
    pub pos: Pos,
    pub number: u32,
    pub code: Code,
    pub config: FunctionConfig,
    pub description: String,
    /// `function_description` was given (else the copy in an existing version isn't compared).
    pub function_description: bool,
}

#[derive(Debug)]
pub struct DAlias {
    pub pos: Pos,
    pub version: String,
    pub routing: BTreeMap<String, f64>,
    pub description: String,
}

#[derive(Debug)]
pub struct DPermission {
    pub pos: Pos,
    pub id: String,
    pub qualifier: Option<String>,
    pub principal: Principal,
    /// With [`Principal::Api`]: below the API (`STAGE/METHOD/PATH`); else the full source.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    /// An API of the file, by name: `api:ID` once its id is known.
    Api(String),
    /// As written: `*` or `api:ID`.
    Literal(String),
}

#[derive(Debug)]
pub struct DApi {
    pub pos: Pos,
    pub description: String,
    pub routes: Vec<DRoute>,
    pub stages: BTreeMap<String, DStage>,
}

#[derive(Debug, Clone)]
pub struct DRoute {
    pub pos: Pos,
    pub method: Method,
    pub path: RoutePath,
    pub integration: Integration,
}

#[derive(Debug)]
pub struct DStage {
    pub pos: Pos,
    pub variables: BTreeMap<String, String>,
    pub description: String,
    pub environment: Option<String>,
    pub cache: CacheSettings,
    pub throttle: ThrottleSettings,
    pub capacity: CapacitySettings,
}

impl DApi {
    /// The functions its routes reach on `stage`: (route, target with the stage's
    /// variables filled in, function). Targets that don't resolve are left out: validation
    /// reported them.
    pub fn functions_reached<'a>(
        &'a self,
        stage: &'a DStage,
    ) -> impl Iterator<Item = (&'a DRoute, String, FunctionName)> + 'a {
        self.routes.iter().filter_map(|r| {
            let Integration::Function { target, .. } = &r.integration else { return None };
            let resolved = waygate::model::api::Template::parse(target).ok()?.render(&stage.variables).ok()?;
            let (function, _) = waygate::model::api::parse_target(&resolved).ok()?;
            Some((r, resolved, function))
        })
    }
}

impl DStage {
    /// The environment it runs in: its own setting, else its name.
    pub fn environment_or<'a>(&'a self, name: &'a str) -> &'a str {
        self.environment.as_deref().unwrap_or(name)
    }
}

#[derive(Debug)]
pub struct DKey {
    pub pos: Pos,
    pub policy: Policy,
}

/// Reads and validates `path`: every error found, with positions, or the desired state.
pub fn load(path: &Path) -> anyhow::Result<Desired> {
    use anyhow::Context;
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > MAX_FILE_BYTES {
        anyhow::bail!("{} is {} bytes: a declaration may have at most {MAX_FILE_BYTES}", path.display(), meta.len());
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(parse(path, &text)?)
}

/// [`load`] of text already read (`path` names it and anchors relative code paths).
pub fn parse(path: &Path, text: &str) -> Result<Desired, FileErrors> {
    let fail = |errors| FileErrors { file: path.to_path_buf(), errors };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let pos = e.span().map(|s| position(text, s.start)).unwrap_or(Pos { line: 1, col: 1 });
        fail(vec![(pos, e.message().trim().to_string())])
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut errs = Errors { lines: Lines::new(text), list: Vec::new() };
    let mut codes: BTreeMap<PathBuf, Option<CodeHash>> = BTreeMap::new();
    let mut code = |errs: &mut Errors, s: &Spanned<String>| -> Option<Code> {
        let p = base.join(s.get_ref());
        let hash = *codes.entry(p.clone()).or_insert_with(|| match std::fs::read(&p) {
            Ok(bytes) => Some(CodeHash::of(&bytes)),
            Err(e) => {
                errs.at(s, format!("cannot read code file {}: {e}", p.display()));
                None
            }
        });
        hash.map(|hash| Code { hash, path: p })
    };
    let limits = Limits::default();
    let api_names: BTreeSet<String> = raw.apis.keys().map(|k| k.get_ref().clone()).collect();

    let mut functions = BTreeMap::new();
    for (name, f) in &raw.functions {
        if let Err(e) = FunctionName::parse(name.get_ref()) {
            errs.at(name, e.0);
            continue;
        }
        let Some(code_ref) = &f.code else {
            errs.at(
                name,
                format!("function {}: `code` is required (the .wasm file, relative to this file)", name.get_ref()),
            );
            continue;
        };
        let latest_code = code(&mut errs, code_ref);
        // `$LATEST`: the function's fields over the defaults, as a create's body would be.
        let patch = FunctionConfigPatch {
            env: Some(f.env.clone()),
            memory_mb: f.memory_mb,
            timeout_ms: f.timeout_ms,
            description: f.description.clone(),
            outbound: Some(f.outbound.clone()),
            config: Some(f.config.clone()),
            lambda: None,
        };
        let config = match FunctionConfig::default().apply(patch, &limits) {
            Ok(c) => c,
            Err(e) => {
                errs.at(name, format!("function {}: {}", name.get_ref(), e.0));
                continue;
            }
        };
        let mut versions: Vec<DVersion> = Vec::new();
        for v in &f.versions {
            let raw_v = v.get_ref();
            let vcode = match &raw_v.code {
                Some(c) => code(&mut errs, c),
                None => latest_code.clone(),
            };
            // A version: its fields over the function's, as a PATCH before publishing.
            let patch = FunctionConfigPatch {
                env: raw_v.env.clone(),
                memory_mb: raw_v.memory_mb,
                timeout_ms: raw_v.timeout_ms,
                description: raw_v.function_description.clone(),
                outbound: raw_v.outbound.clone(),
                config: raw_v.config.clone(),
                lambda: None,
            };
            let vconfig = config.apply(patch, &limits);
            let here = format!("function {} version {}", name.get_ref(), raw_v.version);
            if raw_v.version == 0 {
                errs.at(v, format!("{here}: version numbers start at 1"));
            }
            if let Some(prev) = versions.last() {
                if raw_v.version <= prev.number {
                    errs.at(v, format!("{here}: versions must be listed in increasing order (after {})", prev.number));
                } else if vcode.as_ref().is_some_and(|c| c.hash == prev.code.hash)
                    && vconfig.as_ref() == Ok(&prev.config)
                {
                    errs.at(
                        v,
                        format!(
                            "{here} is the same as version {}: publishing it would return that version",
                            prev.number
                        ),
                    );
                }
            }
            if let Err(e) =
                waygate::model::validate_text("version description", raw_v.description.as_deref().unwrap_or(""))
            {
                errs.at(v, format!("{here}: {}", e.0));
            }
            let vconfig = match vconfig {
                Ok(c) => c,
                Err(e) => {
                    errs.at(v, format!("{here}: {}", e.0));
                    continue;
                }
            };
            if let Some(vcode) = vcode {
                versions.push(DVersion {
                    pos: errs.pos(v),
                    number: raw_v.version,
                    code: vcode,
                    config: vconfig,
                    description: raw_v.description.clone().unwrap_or_default(),
                    function_description: raw_v.function_description.is_some(),
                });
            }
        }
        let mut aliases = BTreeMap::new();
        for (alias, a) in &f.aliases {
            let here = format!("alias {}:{}", name.get_ref(), alias.get_ref());
            if let Err(e) = AliasName::parse(alias.get_ref()) {
                errs.at(alias, e.0);
                continue;
            }
            let target = a.get_ref();
            let version = target.version.text();
            let routing = (!target.routing.is_empty()).then_some(&target.routing);
            if let Err(e) = AliasTarget::parse(&version, routing) {
                errs.at(a, format!("{here}: {}", e.0));
            }
            aliases.insert(
                alias.get_ref().clone(),
                DAlias {
                    pos: errs.pos(a),
                    version,
                    routing: target.routing.clone(),
                    description: target.description.clone().unwrap_or_default(),
                },
            );
        }
        let mut permissions: Vec<DPermission> = Vec::new();
        for p in &f.permissions {
            let raw_p = p.get_ref();
            let here = format!("function {} permission {}", name.get_ref(), raw_p.id);
            if let Err(e) = waygate::ops::permissions::validate_statement_id(&raw_p.id) {
                errs.at(p, format!("{here}: {e}"));
            }
            if permissions.iter().any(|q| q.id == raw_p.id && q.qualifier == raw_p.qualifier) {
                errs.at(p, format!("{here}: declared twice for the same qualifier"));
            }
            if let Some(q) = &raw_p.qualifier {
                if let Err(e) = waygate::ops::permissions::policy_qualifier(Some(q)) {
                    errs.at(p, format!("{here}: {e}"));
                } else if q.parse::<u32>().is_err() && !aliases.contains_key(q) {
                    errs.at(p, format!("{here}: qualifier {q} is not an alias of {} in this file", name.get_ref()));
                }
            }
            let (principal, source) = match (&raw_p.api, &raw_p.principal) {
                (Some(_), Some(_)) => {
                    errs.at(p, format!("{here}: give `api` (an API of this file) or `principal`, not both"));
                    continue;
                }
                (Some(api), None) => {
                    if !api_names.contains(api) {
                        errs.at(p, format!("{here}: API {api} is not declared in this file"));
                    }
                    let source = raw_p.source.clone().unwrap_or_else(|| "*/*/*".into());
                    if let Err(e) = waygate::ops::permissions::validate_source(&format!("0000000000/{source}")) {
                        errs.at(p, format!("{here}: {e} (with `api`, `source` is STAGE/METHOD/PATH below it)"));
                    }
                    (Principal::Api(api.clone()), source)
                }
                (None, Some(principal)) => {
                    let Some(source) = raw_p.source.clone() else {
                        errs.at(p, format!("{here}: `source` (API_ID/STAGE/METHOD/PATH) is required with `principal`"));
                        continue;
                    };
                    if let Err(e) = waygate::ops::permissions::validate_source(&source) {
                        errs.at(p, format!("{here}: {e}"));
                    }
                    (Principal::Literal(principal.clone()), source)
                }
                (None, None) => {
                    errs.at(p, format!("{here}: give `api` (an API of this file) or `principal`"));
                    continue;
                }
            };
            permissions.push(DPermission {
                pos: errs.pos(p),
                id: raw_p.id.clone(),
                qualifier: raw_p.qualifier.clone(),
                principal,
                source,
            });
        }
        if let Some(latest_code) = latest_code {
            functions.insert(
                name.get_ref().clone(),
                DFunction {
                    pos: errs.pos(name),
                    code: latest_code,
                    config,
                    reserved_concurrency: f.reserved_concurrency,
                    versions,
                    aliases,
                    permissions,
                },
            );
        }
    }

    let mut apis = BTreeMap::new();
    for (name, a) in &raw.apis {
        if let Err(e) = validate_api_name(name.get_ref()) {
            errs.at(name, e.0);
        }
        let mut routes: Vec<DRoute> = Vec::new();
        for r in &a.routes {
            let raw_r = r.get_ref();
            let here = format!("API {} route {} {}", name.get_ref(), raw_r.method, raw_r.path);
            let method = Method::parse(&raw_r.method);
            let path = RoutePath::parse(&raw_r.path);
            let (method, path) = match (method, path) {
                (Ok(m), Ok(p)) => (m, p),
                (Err(e), _) | (_, Err(e)) => {
                    errs.at(r, format!("{here}: {}", e.0));
                    continue;
                }
            };
            if let Err(e) = raw_r.integration.validate_for(&path) {
                errs.at(r, format!("{here}: {}", e.0));
            }
            if routes.iter().any(|d| d.method == method && d.path == path) {
                errs.at(r, format!("{here}: declared twice"));
            }
            routes.push(DRoute { pos: errs.pos(r), method, path, integration: raw_r.integration.clone() });
        }
        if let Err(e) = check_siblings(routes.iter().map(|r| &r.path)) {
            errs.at(name, format!("API {}: {}", name.get_ref(), e.0));
        }
        let mut stages = BTreeMap::new();
        for (stage, s) in &a.stages {
            let here = format!("stage {}/{}", name.get_ref(), stage.get_ref());
            if let Err(e) = StageName::parse(stage.get_ref()) {
                errs.at(stage, e.0);
                continue;
            }
            let raw_s = s.get_ref();
            if let Err(e) = validate_variables(&raw_s.variables) {
                errs.at(s, format!("{here}: {}", e.0));
            }
            let cache = raw_s.cache.clone().unwrap_or_default().validated();
            let throttle = raw_s.throttle.clone().unwrap_or_default().validated();
            let capacity = raw_s.capacity.clone().unwrap_or_default().validated();
            let (cache, throttle, capacity) = match (cache, throttle, capacity) {
                (Ok(c), Ok(t), Ok(k)) => (c, t, k),
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                    errs.at(s, format!("{here}: {}", e.0));
                    continue;
                }
            };
            // Every variable an HTTP integration uses must be set (a missing one fails each
            // request); function targets are resolved below.
            for r in &routes {
                for v in r.integration.stage_variables() {
                    if !raw_s.variables.contains_key(&v) {
                        errs.at(
                            s,
                            format!(
                                "{here}: route {} {} uses ${{stageVariables.{v}}}, which this stage does not set",
                                r.method.as_str(),
                                r.path.as_str()
                            ),
                        );
                    }
                }
            }
            stages.insert(
                stage.get_ref().clone(),
                DStage {
                    pos: errs.pos(s),
                    variables: raw_s.variables.clone(),
                    description: raw_s.description.clone().unwrap_or_default(),
                    environment: raw_s.environment.clone(),
                    cache,
                    throttle,
                    capacity,
                },
            );
        }
        apis.insert(
            name.get_ref().clone(),
            DApi { pos: errs.pos(name), description: a.description.clone().unwrap_or_default(), routes, stages },
        );
    }

    // A function target a stage resolves to must name a function and alias of this file
    // when the function is declared here (the plan checks the others exist on the server).
    for (api_name, api) in &apis {
        for (stage_name, stage) in &api.stages {
            for r in &api.routes {
                let Integration::Function { target, .. } = &r.integration else { continue };
                let here = format!("stage {api_name}/{stage_name}: route {} {}", r.method.as_str(), r.path.as_str());
                let resolved = match waygate::model::api::Template::parse(target).map(|t| t.render(&stage.variables)) {
                    Ok(Ok(resolved)) => resolved,
                    Ok(Err(var)) => {
                        errs.list.push((
                            stage.pos,
                            format!("{here} uses ${{stageVariables.{var}}}, which this stage does not set"),
                        ));
                        continue;
                    }
                    Err(_) => continue, // reported with the route
                };
                match waygate::model::api::parse_target(&resolved) {
                    Err(e) => errs.list.push((stage.pos, format!("{here} resolves to '{resolved}': {}", e.0))),
                    Ok((function, qualifier)) => {
                        let Some(f) = functions.get(function.as_str()) else { continue };
                        let q = qualifier.to_string();
                        let known = q == "$LATEST"
                            || f.aliases.contains_key(&q)
                            || f.versions.iter().any(|v| v.number.to_string() == q);
                        if !known {
                            errs.list.push((
                                stage.pos,
                                format!(
                                    "{here} resolves to {resolved}, but {function} declares no alias or version {q}"
                                ),
                            ));
                        }
                    }
                }
            }
        }
    }

    let mut keys = BTreeMap::new();
    for (name, k) in &raw.keys {
        if let Err(e) = waygate::ops::keys::validate_key_name(name.get_ref()) {
            errs.at(name, e.to_string());
        }
        if let Err(e) = k.policy.validate() {
            errs.at(name, format!("key {}: {}", name.get_ref(), e.0));
        }
        keys.insert(name.get_ref().clone(), DKey { pos: errs.pos(name), policy: k.policy.clone() });
    }

    if !errs.list.is_empty() {
        errs.list.sort_by_key(|(p, _)| (p.line, p.col));
        return Err(fail(errs.list));
    }
    Ok(Desired { file: path.to_path_buf(), functions, apis, keys })
}

/// The secret names a configuration's environment references (`secret:NAME` values).
pub fn secret_refs(config: &FunctionConfig) -> BTreeSet<String> {
    config.env.values().filter_map(|v| v.strip_prefix("secret:")).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_code(text: &str) -> (tempfile::TempDir, PathBuf, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("f.wasm"), b"\0asm\x01\0\0\0").expect("write");
        let path = dir.path().join("waygate.toml");
        (dir, path, text.to_string())
    }

    fn errors(text: &str) -> Vec<(Pos, String)> {
        let (_d, path, text) = with_code(text);
        match parse(&path, &text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.errors,
        }
    }

    #[test]
    fn positions_are_lines_and_columns() {
        let text = "a\nbc\n\ndé f";
        assert_eq!(position(text, 0), Pos { line: 1, col: 1 });
        assert_eq!(position(text, 3), Pos { line: 2, col: 2 });
        assert_eq!(position(text, 10), Pos { line: 4, col: 4 });
    }

    #[test]
    fn unknown_keys_and_wrong_types_point_at_the_line() {
        let e = errors("[functions.f]\ncode = \"f.wasm\"\nmemroy_mb = 128\n");
        assert_eq!(e[0].0.line, 3, "{e:?}");
        assert!(e[0].1.contains("memroy_mb"), "{e:?}");
        let e = errors("[functions.f]\ncode = \"f.wasm\"\nmemory_mb = \"lots\"\n");
        assert_eq!(e[0].0.line, 3, "{e:?}");
    }

    #[test]
    fn rules_are_the_models() {
        let e = errors(
            "[functions.f]\ncode = \"f.wasm\"\nmemory_mb = 999999\n\n[functions.\"bad name\"]\ncode = \"f.wasm\"\n",
        );
        assert!(e.iter().any(|(p, m)| p.line == 1 && m.contains("memory_mb 999999 is out of range")), "{e:?}");
        assert!(e.iter().any(|(p, _)| p.line == 5), "{e:?}");
        let e = errors("[apis.shop]\nroutes = [{ method = \"FETCH\", path = \"/x\", integration = { type = \"mock\", status = 200 } }]\n");
        assert!(e[0].1.contains("FETCH"), "{e:?}");
        assert_eq!(e[0].0.line, 2);
    }

    #[test]
    fn references_must_resolve() {
        let text = r#"
[functions.orders]
code = "f.wasm"
aliases.STABLE = { version = "$LATEST" }
permissions = [{ id = "p", api = "nope", qualifier = "GONE" }]

[apis.shop]
routes = [{ method = "ANY", path = "/{proxy+}", integration = { type = "function", target = "orders:${stageVariables.alias}" } }]
stages.dev = { variables = { alias = "BETA" } }
stages.prod = {}
"#;
        let e = errors(text);
        let all = e.iter().map(|(p, m)| format!("{}:{m}", p.line)).collect::<Vec<_>>().join("\n");
        assert!(all.contains("5:function orders permission p: qualifier GONE is not an alias"), "{all}");
        assert!(all.contains("API nope is not declared"), "{all}");
        assert!(all.contains("9:stage shop/dev: route ANY /{proxy+} resolves to orders:BETA, but orders declares no alias or version BETA"), "{all}");
        assert!(all.contains("10:stage shop/prod: route ANY /{proxy+} uses ${stageVariables.alias}"), "{all}");
    }

    #[test]
    fn versions_are_ordered_and_distinct() {
        let text = "[functions.f]\ncode = \"f.wasm\"\n[[functions.f.versions]]\nversion = 2\n[[functions.f.versions]]\nversion = 3\n[[functions.f.versions]]\nversion = 1\nenv = { A = \"b\" }\n";
        let e = errors(text);
        assert!(e.iter().any(|(p, m)| p.line == 5 && m.contains("the same as version 2")), "{e:?}");
        assert!(e.iter().any(|(p, m)| p.line == 7 && m.contains("increasing order")), "{e:?}");
    }
}
