//! `waygate export`: the server's state as a declaration, with each distinct code written
//! once beside it as `code/HASH.wasm`, so that planning the exported file against the
//! same server shows no changes.

use super::file::{
    RawAlias, RawApi, RawFile, RawFunction, RawKey, RawPermission, RawRoute, RawStage, RawVersion, VersionRef,
};
use super::state::{CApi, Current};
use crate::client::Client;
use crate::enc;
use anyhow::{anyhow, Context};
use reqwest::Method;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use toml::Spanned;
use waygate::model::stage::{CacheSettings, CapacitySettings, ThrottleSettings};
use waygate::model::{CodeHash, FunctionConfig};

fn s<T>(v: T) -> Spanned<T> {
    Spanned::new(0..0, v)
}

/// Writes the declaration of `current` (its functions and APIs with detail) to `out`,
/// code files beside it. Returns the warnings (what the file can't express).
pub fn export(client: &Client, current: &Current, out: &Path) -> anyhow::Result<Vec<String>> {
    let dir = out.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut warnings = Vec::new();
    let mut file = RawFile::default();
    let mut written: BTreeSet<String> = BTreeSet::new();
    // APIs exported, by id → name (a permission naming one is written with `api`).
    let mut exported_apis: BTreeMap<String, String> = BTreeMap::new();
    for (name, list) in &current.apis {
        let with_detail: Vec<&CApi> = list.iter().filter(|a| a.detail.is_some()).collect();
        match with_detail.as_slice() {
            [] => {}
            [a] => {
                exported_apis.insert(a.id.clone(), name.clone());
            }
            many => warnings.push(format!(
                "{} APIs are named {name} ({}): the file identifies APIs by name, so none of them is exported",
                many.len(),
                many.iter().map(|a| a.id.as_str()).collect::<Vec<_>>().join(", ")
            )),
        }
    }

    for (name, f) in &current.functions {
        let Some(detail) = &f.detail else { continue };
        let Some(hash) = &f.code_hash else {
            warnings.push(format!("function {name} has no code: not exported"));
            continue;
        };
        let code = code_file(client, &dir, name, None, hash, &mut written)?;
        let base = &f.config;
        let dflt = FunctionConfig::default();
        let mut rf = RawFunction {
            code: Some(s(code.clone())),
            memory_mb: (base.memory_mb != dflt.memory_mb).then_some(base.memory_mb),
            timeout_ms: (base.timeout_ms != dflt.timeout_ms).then_some(base.timeout_ms),
            description: (!base.description.is_empty()).then(|| base.description.clone()),
            env: base.env.clone(),
            outbound: base.outbound.clone(),
            config: base.config.clone(),
            reserved_concurrency: f.reserved_concurrency,
            ..RawFunction::default()
        };
        for (n, v) in &detail.versions {
            let vcode = match v.code_hash == *hash {
                true => None,
                false => Some(s(code_file(client, &dir, name, Some(*n), &v.code_hash, &mut written)?)),
            };
            let c = &v.config;
            rf.versions.push(s(RawVersion {
                version: *n,
                description: (!v.description.is_empty()).then(|| v.description.clone()),
                function_description: (c.description != base.description).then(|| c.description.clone()),
                code: vcode,
                memory_mb: (c.memory_mb != base.memory_mb).then_some(c.memory_mb),
                timeout_ms: (c.timeout_ms != base.timeout_ms).then_some(c.timeout_ms),
                env: (c.env != base.env).then(|| c.env.clone()),
                outbound: (c.outbound != base.outbound).then(|| c.outbound.clone()),
                config: (c.config != base.config).then(|| c.config.clone()),
            }));
        }
        for (alias, a) in &detail.aliases {
            let version = match a.version.parse::<u32>() {
                Ok(n) => VersionRef::Number(n),
                Err(_) => VersionRef::Text(a.version.clone()),
            };
            let description = (!a.description.is_empty()).then(|| a.description.clone());
            rf.aliases.insert(s(alias.clone()), s(RawAlias { version, routing: a.routing.clone(), description }));
        }
        for p in &detail.permissions {
            let api = p.principal.strip_prefix("api:").and_then(|id| {
                let name = exported_apis.get(id)?;
                let below = p.source.strip_prefix(&format!("{id}/"))?;
                Some((name.clone(), below.to_string()))
            });
            let raw = match api {
                Some((api, below)) => RawPermission {
                    id: p.statement_id.clone(),
                    api: Some(api),
                    source: Some(below),
                    qualifier: p.qualifier.clone(),
                    ..RawPermission::default()
                },
                None => RawPermission {
                    id: p.statement_id.clone(),
                    principal: Some(p.principal.clone()),
                    source: Some(p.source.clone()),
                    qualifier: p.qualifier.clone(),
                    ..RawPermission::default()
                },
            };
            rf.permissions.push(s(raw));
        }
        file.functions.insert(s(name.clone()), rf);
    }

    for (id, name) in &exported_apis {
        let Some(a) = current.apis.get(name).and_then(|l| l.iter().find(|a| &a.id == id)) else { continue };
        let Some(detail) = &a.detail else { continue };
        let mut ra =
            RawApi { description: (!a.description.is_empty()).then(|| a.description.clone()), ..RawApi::default() };
        for r in &detail.routes {
            ra.routes.push(s(RawRoute {
                method: r.method.clone(),
                path: r.path.clone(),
                integration: r.integration.clone(),
            }));
        }
        let draft: BTreeSet<(String, String, String)> =
            detail.routes.iter().map(|r| (r.method.clone(), r.path.clone(), format!("{:?}", r.integration))).collect();
        for (stage, st) in &detail.stages {
            let deployed: BTreeSet<(String, String, String)> = st
                .deployed
                .iter()
                .map(|r| (r.method.clone(), r.path.clone(), format!("{:?}", r.integration)))
                .collect();
            if deployed != draft {
                warnings.push(format!(
                    "stage {name}/{stage} serves other routes than the API's draft: the file declares the draft's, so a plan would deploy them to it"
                ));
            }
            if st.canary.is_some() {
                warnings.push(format!("stage {name}/{stage} has a canary, which the file does not declare"));
            }
            ra.stages.insert(
                s(stage.clone()),
                s(RawStage {
                    variables: st.variables.clone(),
                    description: (!st.description.is_empty()).then(|| st.description.clone()),
                    environment: st.secret_environment.clone(),
                    cache: (st.cache != CacheSettings::default()).then(|| st.cache.clone()),
                    throttle: (st.throttle != ThrottleSettings::default()).then(|| st.throttle.clone()),
                    capacity: (st.capacity != CapacitySettings::default()).then(|| st.capacity.clone()),
                }),
            );
        }
        file.apis.insert(s(name.clone()), ra);
    }

    if let Some(keys) = &current.keys {
        for (name, policy) in keys {
            file.keys.insert(s(name.clone()), RawKey { policy: policy.clone() });
        }
    }

    let text = toml::to_string_pretty(&file).context("rendering the declaration")?;
    let header = "# Written by `waygate export`: `waygate plan -f` this file shows what differs from the server.\n\n";
    std::fs::write(out, format!("{header}{text}")).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(warnings)
}

/// Downloads code `hash` (of `$LATEST` or a version) once into `dir/code/HASH.wasm`;
/// returns the path relative to the declaration.
fn code_file(
    client: &Client,
    dir: &Path,
    name: &str,
    version: Option<u32>,
    hash: &str,
    written: &mut BTreeSet<String>,
) -> anyhow::Result<String> {
    let rel = format!("code/{hash}.wasm");
    if written.contains(hash) {
        return Ok(rel);
    }
    let path: PathBuf = dir.join(&rel);
    let fresh = std::fs::read(&path).ok().is_some_and(|b| CodeHash::of(&b).to_string() == hash);
    if !fresh {
        let mut url = format!("/v1/functions/{}/code", enc(name));
        if let Some(n) = version {
            url.push_str(&format!("?version={n}"));
        }
        let bytes = client.send(client.request(Method::GET, &url))?.bytes().context("reading code")?;
        if CodeHash::of(&bytes).to_string() != hash {
            return Err(anyhow!("the code of {name} downloaded does not hash to {hash}"));
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    written.insert(hash.to_string());
    Ok(rel)
}
