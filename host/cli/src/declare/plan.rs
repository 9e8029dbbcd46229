//! The plan: what would change, resource by resource, to bring the server to the file —
//! in the order `apply` performs it (dependencies first: a function before its versions,
//! versions before the aliases that name them, an API before its routes, routes before
//! the stages that deploy them; deletions last, dependents first).

use super::desired::{secret_refs, DFunction, Desired, Pos, Principal};
use super::state::{CApi, CFunction, CRoute, CStage, Current, Scope};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use waygate::model::api::Integration;
use waygate::model::FunctionConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    /// Deleted and created again (permissions and keys have no update call).
    Replace,
    Delete,
}

impl Action {
    fn sign(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
}

/// What `apply` does for a change.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Create the function if missing, publish its new versions, then set `$LATEST`
    /// (code, configuration, reserved concurrency) as declared.
    Function {
        name: String,
    },
    /// Publish `$LATEST` as version `number` (done with [`Op::Function`]).
    Version {
        name: String,
        number: u32,
    },
    Alias {
        name: String,
        alias: String,
    },
    DeleteAlias {
        name: String,
        alias: String,
    },
    /// The function's `index`th declared statement (removed first when replaced).
    Permission {
        name: String,
        index: usize,
        old_qualifier: Option<String>,
    },
    DeletePermission {
        name: String,
        statement_id: String,
        qualifier: Option<String>,
    },
    Api {
        name: String,
    },
    DeleteApi {
        name: String,
        id: String,
    },
    Route {
        api: String,
        index: usize,
    },
    DeleteRoute {
        api: String,
        route_id: String,
    },
    /// Deploy the declared routes to the stage (when `deploy`) and set its settings.
    Stage {
        api: String,
        stage: String,
        deploy: bool,
    },
    DeleteStage {
        api: String,
        stage: String,
    },
    Key {
        name: String,
    },
    DeleteKey {
        name: String,
    },
    DeleteFunction {
        name: String,
    },
}

#[derive(Debug, Clone)]
pub struct Change {
    pub address: String,
    pub action: Action,
    /// (field, from, to), rendered.
    pub fields: Vec<(String, String, String)>,
    pub op: Op,
}

impl Change {
    fn delete(address: String, op: Op) -> Change {
        Change { address, action: Action::Delete, fields: Vec::new(), op }
    }
}

#[derive(Debug, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// On the server, not in the file: kept (shown; `--prune` deletes them).
    pub kept: Vec<String>,
    pub warnings: Vec<String>,
    /// Why the file can't be applied (the plan stops with these).
    pub errors: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn render(&self, file: &str, endpoint: &str, prune: bool) -> String {
        let mut s = String::new();
        if self.changes.is_empty() {
            let _ = writeln!(s, "No changes: {endpoint} matches {file}.");
        } else {
            let _ = writeln!(s, "Plan for {file} against {endpoint}:\n");
            for c in &self.changes {
                let _ = writeln!(s, "  {} {}", c.action.sign(), c.address);
                for (field, from, to) in &c.fields {
                    match (from.is_empty(), to.is_empty()) {
                        (true, _) => {
                            let _ = writeln!(s, "        {field}: {to}");
                        }
                        (false, true) => {
                            let _ = writeln!(s, "        {field}: {from} → (removed)");
                        }
                        (false, false) => {
                            let _ = writeln!(s, "        {field}: {from} → {to}");
                        }
                    }
                }
            }
        }
        if !self.kept.is_empty() && !prune {
            let _ = writeln!(s, "\nOn the server but not in {file} (kept; --prune deletes them):");
            for k in &self.kept {
                let _ = writeln!(s, "  {k}");
            }
        }
        for w in &self.warnings {
            let _ = writeln!(s, "\nwarning: {w}");
        }
        if !self.changes.is_empty() {
            let count = |a: Action| self.changes.iter().filter(|c| c.action == a).count();
            let _ = writeln!(
                s,
                "\nPlan: {} to create, {} to update, {} to replace, {} to delete.",
                count(Action::Create),
                count(Action::Update),
                count(Action::Replace),
                count(Action::Delete)
            );
        }
        s
    }
}

/// Compact JSON of a value, for a field line.
fn show<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}

fn at(d: &Desired, pos: Pos) -> String {
    format!("{}:{}:{}", d.file.display(), pos.line, pos.col)
}

/// The configuration fields a `PATCH …/config` body sets, with their values in `c`: the
/// one list plan and apply compare.
pub fn config_values(c: &FunctionConfig) -> [(&'static str, Value); 6] {
    [
        ("memory_mb", json!(c.memory_mb)),
        ("timeout_ms", json!(c.timeout_ms)),
        ("description", json!(c.description)),
        ("env", json!(c.env)),
        ("outbound", json!(c.outbound)),
        ("config", json!(c.config)),
    ]
}

/// A field line when `to` differs from `from` (absent: it is being created, and a value
/// equal to the `default` is not shown).
fn changed(name: &str, from: Option<Value>, to: Value, default: Value) -> Option<(String, String, String)> {
    (from.as_ref() != Some(&to) && !(from.is_none() && to == default))
        .then(|| (name.to_string(), from.map(|f| f.to_string()).unwrap_or_default(), to.to_string()))
}

/// The fields of a function configuration that differ; the description under the name
/// `description` (or not compared: `None`).
fn config_fields(
    from: Option<&FunctionConfig>,
    to: &FunctionConfig,
    description: Option<&str>,
) -> Vec<(String, String, String)> {
    let from = from.map(config_values);
    let defaults = config_values(&FunctionConfig::default());
    let mut out = Vec::new();
    for (i, ((name, want), (_, default))) in config_values(to).into_iter().zip(defaults).enumerate() {
        let name = match name {
            "description" => match description {
                Some(n) => n,
                None => continue,
            },
            n => n,
        };
        out.extend(changed(name, from.as_ref().map(|f| f[i].1.clone()), want, default));
    }
    out
}

/// Routes as a comparable set: `METHOD PATH` → integration.
fn route_set<'a>(routes: impl Iterator<Item = (String, String, &'a Integration)>) -> BTreeMap<String, Value> {
    routes.map(|(m, p, i)| (format!("{m} {p}"), json!(i))).collect()
}

/// Computes the plan of `desired` against `current`.
pub fn plan(desired: &Desired, current: &Current, scope: &Scope, prune: bool) -> Plan {
    let mut plan = Plan::default();
    let mut deletes: Vec<Change> = Vec::new();
    let delete = Change::delete;

    // The id of each declared API, where it exists (one API per name, or an error).
    let mut api_ids: BTreeMap<&str, Option<&CApi>> = BTreeMap::new();
    for name in desired.apis.keys() {
        match current.apis.get(name).map(Vec::as_slice).unwrap_or_default() {
            [] => {
                api_ids.insert(name, None);
            }
            [one] => {
                api_ids.insert(name, Some(one));
            }
            many => plan.errors.push(format!(
                "{}: {} APIs on the server are named {name} ({}): the file identifies APIs by name; rename or delete the others",
                at(desired, desired.apis[name].pos),
                many.len(),
                many.iter().map(|a| a.id.as_str()).collect::<Vec<_>>().join(", ")
            )),
        }
    }

    // Functions, their versions, aliases.
    let mut permission_changes = Vec::new();
    for (name, d) in &desired.functions {
        let cur = current.functions.get(name);
        function_changes(desired, name, d, cur, prune, &mut plan, &mut deletes, &mut permission_changes, &api_ids);
    }
    let mut kept_functions = 0;
    for (name, f) in &current.functions {
        if desired.functions.contains_key(name) || !scope.all {
            continue;
        }
        if prune {
            deletes.push(delete(format!("function {name}"), Op::DeleteFunction { name: name.clone() }));
        } else {
            kept_functions += 1;
            if kept_functions <= 20 {
                plan.kept.push(format!("function {}", f.name));
            }
        }
    }
    if kept_functions > 20 {
        plan.kept.push(format!("… and {} more functions", kept_functions - 20));
    }

    // APIs: creation, then the permissions that name them, routes and stages.
    let mut route_changes = Vec::new();
    let mut stage_changes = Vec::new();
    for (name, d) in &desired.apis {
        let Some(cur) = api_ids.get(name.as_str()) else { continue };
        let detail = cur.and_then(|c| c.detail.as_ref());
        match cur {
            None => plan.changes.push(Change {
                address: format!("api {name}"),
                action: Action::Create,
                fields: if d.description.is_empty() { vec![] } else { vec![("description".into(), String::new(), show(&d.description))] },
                op: Op::Api { name: name.clone() },
            }),
            Some(c) if c.description != d.description => plan.warnings.push(format!(
                "{}: API {name}'s description differs from the server's ({:?}); the management API has no call to change it, so it is left alone",
                at(desired, d.pos),
                c.description
            )),
            Some(_) => {}
        }
        // Draft routes: exactly the declared ones.
        let existing: Vec<CRoute> = detail.map(|x| x.routes.clone()).unwrap_or_default();
        for (i, r) in d.routes.iter().enumerate() {
            let (m, p) = (r.method.as_str(), r.path.as_str());
            let found = existing.iter().find(|e| e.method == m && e.path == p);
            let address = format!("route {name} {m} {p}");
            match found {
                None => route_changes.push(Change {
                    address,
                    action: Action::Create,
                    fields: vec![("integration".into(), String::new(), show(&r.integration))],
                    op: Op::Route { api: name.clone(), index: i },
                }),
                Some(e) if e.integration != r.integration => route_changes.push(Change {
                    address,
                    action: Action::Update,
                    fields: vec![("integration".into(), show(&e.integration), show(&r.integration))],
                    op: Op::Route { api: name.clone(), index: i },
                }),
                Some(_) => {}
            }
        }
        for e in &existing {
            if !d.routes.iter().any(|r| r.method.as_str() == e.method && r.path.as_str() == e.path) {
                // An API in the file is declared whole: routes it doesn't list go.
                route_changes.push(delete(
                    format!("route {name} {} {}", e.method, e.path),
                    Op::DeleteRoute { api: name.clone(), route_id: e.id.clone() },
                ));
            }
        }
        let wanted = route_set(
            d.routes.iter().map(|r| (r.method.as_str().to_string(), r.path.as_str().to_string(), &r.integration)),
        );
        for (stage, s) in d.stages.iter().filter(|(n, _)| scope.stage(n)) {
            let cur_stage: Option<&CStage> = detail.and_then(|x| x.stages.get(stage));
            let address = format!("stage {name}/{stage}");
            let mut fields = Vec::new();
            let deployed = cur_stage
                .map(|c| route_set(c.deployed.iter().map(|r| (r.method.clone(), r.path.clone(), &r.integration))));
            let deploy = deployed.as_ref() != Some(&wanted);
            if deploy {
                let (add, change, remove) = match &deployed {
                    None => (wanted.len(), 0, 0),
                    Some(dep) => (
                        wanted.keys().filter(|k| !dep.contains_key(*k)).count(),
                        wanted.iter().filter(|(k, v)| dep.get(*k).is_some_and(|d| d != *v)).count(),
                        dep.keys().filter(|k| !wanted.contains_key(*k)).count(),
                    ),
                };
                fields.push((
                    "deployment".into(),
                    String::new(),
                    format!("new deployment of the declared routes ({add} added, {change} changed, {remove} removed)"),
                ));
            }
            let mut field = |n: &str, from: Option<Value>, to: Value, default: Value| {
                fields.extend(changed(n, from, to, default));
            };
            field("variables", cur_stage.map(|c| json!(c.variables)), json!(s.variables), json!({}));
            field("description", cur_stage.map(|c| json!(c.description)), json!(s.description), json!(""));
            field("environment", cur_stage.map(|c| json!(c.secret_environment)), json!(s.environment), json!(null));
            field(
                "cache",
                cur_stage.map(|c| json!(c.cache)),
                json!(s.cache),
                json!(waygate::model::stage::CacheSettings::default()),
            );
            field(
                "throttle",
                cur_stage.map(|c| json!(c.throttle)),
                json!(s.throttle),
                json!(waygate::model::stage::ThrottleSettings::default()),
            );
            field(
                "capacity",
                cur_stage.map(|c| json!(c.capacity)),
                json!(s.capacity),
                json!(waygate::model::stage::CapacitySettings::default()),
            );
            if cur_stage.is_some_and(|c| c.canary.is_some()) {
                plan.warnings.push(format!(
                    "stage {name}/{stage} has a canary: canaries are not declared in the file and are left as they are"
                ));
            }
            if cur_stage.is_none() || !fields.is_empty() {
                stage_changes.push(Change {
                    address,
                    action: if cur_stage.is_none() { Action::Create } else { Action::Update },
                    fields,
                    op: Op::Stage { api: name.clone(), stage: stage.clone(), deploy },
                });
            }
        }
        if let Some(detail) = detail {
            for stage in detail.stages.keys().filter(|n| scope.stage(n) && !d.stages.contains_key(*n)) {
                let address = format!("stage {name}/{stage}");
                if prune {
                    deletes.push(delete(address, Op::DeleteStage { api: name.clone(), stage: stage.clone() }));
                } else {
                    plan.kept.push(address);
                }
            }
        }
        // A function target must name a function of the file or of the server; the
        // secrets the functions a stage reaches reference must be in its environment.
        for (stage, s) in d.stages.iter().filter(|(n, _)| scope.stage(n)) {
            let env = s.environment_or(stage);
            let mut reached = BTreeSet::new();
            for (r, t, f) in d.functions_reached(s) {
                if !desired.functions.contains_key(f.as_str()) && !current.functions.contains_key(f.as_str()) {
                    plan.errors.push(format!(
                        "{}: stage {name}/{stage}: route {} {} resolves to {t}, but there is no function {f} in the file or on the server",
                        at(desired, s.pos),
                        r.method.as_str(),
                        r.path.as_str()
                    ));
                }
                reached.insert(f.to_string());
            }
            for f in reached {
                let Some(df) = desired.functions.get(&f) else { continue };
                let mut refs = secret_refs(&df.config);
                for v in &df.versions {
                    refs.extend(secret_refs(&v.config));
                }
                if refs.is_empty() {
                    continue;
                }
                match current.secrets.get(env) {
                    Some(Ok(have)) => {
                        for missing in refs.iter().filter(|r| !have.contains(*r)) {
                            plan.warnings.push(format!(
                                "secret {missing} is missing in environment {env}: function {f} reads it through stage {name}/{stage} (waygate secret put {env} {missing})"
                            ));
                        }
                    }
                    Some(Err(why)) => plan.warnings.push(format!(
                        "the secrets of environment {env} could not be listed ({why}): function {f} references {}",
                        refs.into_iter().collect::<Vec<_>>().join(", ")
                    )),
                    None => {}
                }
            }
        }
    }
    for (name, list) in &current.apis {
        if desired.apis.contains_key(name) || !scope.all {
            continue;
        }
        for a in list {
            let address = format!("api {name} ({})", a.id);
            if prune {
                deletes.push(delete(address, Op::DeleteApi { name: name.clone(), id: a.id.clone() }));
            } else {
                plan.kept.push(address);
            }
        }
    }

    plan.changes.extend(permission_changes);
    plan.changes.extend(route_changes);
    plan.changes.extend(stage_changes);

    // Keys.
    if let Some(keys) = &current.keys {
        for (name, k) in &desired.keys {
            match keys.get(name) {
                None => plan.changes.push(Change {
                    address: format!("key {name}"),
                    action: Action::Create,
                    fields: vec![("policy".into(), String::new(), show(&k.policy))],
                    op: Op::Key { name: name.clone() },
                }),
                Some(p) if *p != k.policy => plan.changes.push(Change {
                    address: format!("key {name}"),
                    action: Action::Replace,
                    fields: vec![(
                        "policy".into(),
                        show(p),
                        format!("{} (a new key: the old one stops working)", show(&k.policy)),
                    )],
                    op: Op::Key { name: name.clone() },
                }),
                Some(_) => {}
            }
        }
        if scope.all {
            for name in keys.keys().filter(|k| !desired.keys.contains_key(*k)) {
                if prune {
                    deletes.push(delete(format!("key {name}"), Op::DeleteKey { name: name.clone() }));
                } else {
                    plan.kept.push(format!("key {name}"));
                }
            }
        }
    }

    // Deletions last, dependents first.
    let rank = |op: &Op| match op {
        Op::DeleteStage { .. } => 0,
        Op::DeletePermission { .. } => 1,
        Op::DeleteAlias { .. } => 2,
        Op::DeleteApi { .. } => 3,
        Op::DeleteFunction { .. } => 4,
        _ => 5,
    };
    deletes.sort_by_key(|c| rank(&c.op));
    plan.changes.extend(deletes);
    plan
}

#[allow(clippy::too_many_arguments)]
fn function_changes(
    desired: &Desired,
    name: &str,
    d: &DFunction,
    cur: Option<&CFunction>,
    prune: bool,
    plan: &mut Plan,
    deletes: &mut Vec<Change>,
    permission_changes: &mut Vec<Change>,
    api_ids: &BTreeMap<&str, Option<&CApi>>,
) {
    let detail = cur.and_then(|c| c.detail.clone()).unwrap_or_default();
    // $LATEST.
    let mut fields = Vec::new();
    let cur_hash = cur.and_then(|c| c.code_hash.clone());
    if cur_hash.as_deref() != Some(d.code.hash.to_string().as_str()) {
        fields.push((
            "code".to_string(),
            cur_hash.as_deref().map(short).unwrap_or_default(),
            format!("{} ({})", short(&d.code.hash.to_string()), d.code.path.display()),
        ));
    }
    fields.extend(config_fields(cur.map(|c| &c.config), &d.config, Some("description")));
    let cur_rc = cur.and_then(|c| c.reserved_concurrency);
    if cur_rc != d.reserved_concurrency {
        fields.push((
            "reserved_concurrency".into(),
            cur_rc.map(|n| n.to_string()).unwrap_or_default(),
            d.reserved_concurrency.map(|n| n.to_string()).unwrap_or_default(),
        ));
    }
    let has_new_versions = d.versions.iter().any(|v| !detail.versions.contains_key(&v.number));
    if cur.is_none() || !fields.is_empty() || has_new_versions {
        let action = if cur.is_none() { Action::Create } else { Action::Update };
        plan.changes.push(Change {
            address: format!("function {name}"),
            action,
            fields,
            op: Op::Function { name: name.into() },
        });
    }
    // Versions: immutable; new ones are published in order, numbered as the server will.
    let mut next = detail.versions.keys().max().map_or(1, |m| m + 1);
    for v in &d.versions {
        match detail.versions.get(&v.number) {
            Some(c) => {
                let mut diff = Vec::new();
                if c.code_hash != v.code.hash.to_string() {
                    diff.push(format!("code {} → {}", short(&c.code_hash), short(&v.code.hash.to_string())));
                }
                let desc = v.function_description.then_some("function_description");
                for (f, a, b) in config_fields(Some(&c.config), &v.config, desc) {
                    diff.push(format!("{f} {a} → {b}"));
                }
                if c.description != v.description {
                    diff.push(format!("description {:?} → {:?}", c.description, v.description));
                }
                if !diff.is_empty() {
                    plan.errors.push(format!(
                        "{}: version {name}:{} on the server differs from the file ({}): versions are immutable; declare a new version instead",
                        at(desired, v.pos),
                        v.number,
                        diff.join("; ")
                    ));
                }
            }
            None if v.number < next => plan.errors.push(format!(
                "{}: version {name}:{} does not exist on the server, and version numbers are never reused (the next is {next})",
                at(desired, v.pos),
                v.number
            )),
            None if v.number > next => plan.errors.push(format!(
                "{}: version {name}:{} would be published as version {next} (numbers follow the server's, with no gaps)",
                at(desired, v.pos),
                v.number
            )),
            None => {
                next += 1;
                let mut fields = vec![("code".to_string(), String::new(), short(&v.code.hash.to_string()))];
                fields.extend(config_fields(None, &v.config, Some("function_description")));
                if !v.description.is_empty() {
                    fields.push(("description".into(), String::new(), show(&v.description)));
                }
                plan.changes.push(Change {
                    address: format!("version {name}:{}", v.number),
                    action: Action::Create,
                    fields,
                    op: Op::Version { name: name.into(), number: v.number },
                });
            }
        }
    }
    // Aliases.
    for (alias, a) in &d.aliases {
        let exists = |v: &str| {
            v == "$LATEST"
                || d.versions.iter().any(|x| x.number.to_string() == v)
                || v.parse::<u32>().is_ok_and(|n| detail.versions.contains_key(&n))
        };
        for v in std::iter::once(&a.version).chain(a.routing.keys()) {
            if !exists(v) {
                plan.errors.push(format!(
                    "{}: alias {name}:{alias} points at version {v}, which neither the file nor the server has",
                    at(desired, a.pos)
                ));
            }
        }
        let address = format!("alias {name}:{alias}");
        match detail.aliases.get(alias) {
            None => plan.changes.push(Change {
                address,
                action: Action::Create,
                fields: vec![("version".into(), String::new(), a.version.clone())],
                op: Op::Alias { name: name.into(), alias: alias.clone() },
            }),
            Some(c) => {
                let mut fields = Vec::new();
                if c.version != a.version {
                    fields.push(("version".into(), c.version.clone(), a.version.clone()));
                }
                if c.routing != a.routing {
                    fields.push(("routing".into(), show(&c.routing), show(&a.routing)));
                }
                if c.description != a.description {
                    fields.push(("description".into(), show(&c.description), show(&a.description)));
                }
                if !fields.is_empty() {
                    plan.changes.push(Change {
                        address,
                        action: Action::Update,
                        fields,
                        op: Op::Alias { name: name.into(), alias: alias.clone() },
                    });
                }
            }
        }
    }
    for alias in detail.aliases.keys().filter(|a| !d.aliases.contains_key(*a)) {
        let address = format!("alias {name}:{alias}");
        if prune {
            deletes.push(Change::delete(address, Op::DeleteAlias { name: name.into(), alias: alias.clone() }));
        } else {
            plan.kept.push(address);
        }
    }
    // Permissions: compared by (qualifier, statement id); a changed one is replaced.
    for (i, p) in d.permissions.iter().enumerate() {
        let (principal, source) = match &p.principal {
            Principal::Literal(l) => (Some(l.clone()), Some(p.source.clone())),
            Principal::Api(api) => match api_ids.get(api.as_str()).copied().flatten() {
                Some(a) => (Some(format!("api:{}", a.id)), Some(format!("{}/{}", a.id, p.source))),
                None => (None, None),
            },
        };
        let shown_principal =
            principal.clone().unwrap_or_else(|| format!("api:(the new API {})", api_name(&p.principal)));
        let shown_source = source.clone().unwrap_or_else(|| format!("(its id)/{}", p.source));
        let q = p.qualifier.as_deref().map(|q| format!(" (qualifier {q})")).unwrap_or_default();
        let address = format!("permission {name}/{}{q}", p.id);
        let found = detail.permissions.iter().find(|c| c.statement_id == p.id && c.qualifier == p.qualifier);
        match found {
            None => permission_changes.push(Change {
                address,
                action: Action::Create,
                fields: vec![
                    ("principal".into(), String::new(), shown_principal),
                    ("source".into(), String::new(), shown_source),
                ],
                op: Op::Permission { name: name.into(), index: i, old_qualifier: None },
            }),
            Some(c) if Some(&c.principal) != principal.as_ref() || Some(&c.source) != source.as_ref() => {
                permission_changes.push(Change {
                    address,
                    action: Action::Replace,
                    fields: vec![
                        ("principal".into(), c.principal.clone(), shown_principal),
                        ("source".into(), c.source.clone(), shown_source),
                    ],
                    op: Op::Permission { name: name.into(), index: i, old_qualifier: c.qualifier.clone() },
                })
            }
            Some(_) => {}
        }
    }
    for c in &detail.permissions {
        if d.permissions.iter().any(|p| p.id == c.statement_id && p.qualifier == c.qualifier) {
            continue;
        }
        let q = c.qualifier.as_deref().map(|q| format!(" (qualifier {q})")).unwrap_or_default();
        let address = format!("permission {name}/{}{q}", c.statement_id);
        if prune {
            deletes.push(Change::delete(
                address,
                Op::DeletePermission {
                    name: name.into(),
                    statement_id: c.statement_id.clone(),
                    qualifier: c.qualifier.clone(),
                },
            ));
        } else {
            plan.kept.push(address);
        }
    }
}

fn api_name(p: &Principal) -> &str {
    match p {
        Principal::Api(a) | Principal::Literal(a) => a,
    }
}
