//! Performing a plan through the public management API, change by change, with a line
//! per step. The first failure stops it: what was done stays done (every call is one
//! transaction on the server), what wasn't is listed, and the next `apply` plans again
//! from what the server then holds, so it converges.

use super::desired::{DFunction, Desired, Principal};
use super::plan::{self, Action, Change, Op, Plan};
use super::state::Current;
use crate::client::Client;
use crate::enc;
use anyhow::{anyhow, bail, Context};
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use waygate::model::{CodeHash, FunctionConfig};

/// `$LATEST` as apply last left (or found) it, so publishing versions doesn't repeat calls.
#[derive(Clone, PartialEq)]
struct Latest {
    code: Option<String>,
    config: FunctionConfig,
    reserved_concurrency: Option<u32>,
}

pub struct Applier<'a> {
    client: &'a Client,
    desired: &'a Desired,
    latest: BTreeMap<String, Latest>,
    api_ids: BTreeMap<String, String>,
    /// New keys, printed once as they are made (`name`, `key`).
    pub new_keys: Vec<(String, String)>,
    out: &'a mut dyn Write,
}

impl<'a> Applier<'a> {
    pub fn new(client: &'a Client, desired: &'a Desired, current: &Current, out: &'a mut dyn Write) -> Self {
        let latest = current
            .functions
            .iter()
            .map(|(n, f)| {
                let l = Latest {
                    code: f.code_hash.clone(),
                    config: f.config.clone(),
                    reserved_concurrency: f.reserved_concurrency,
                };
                (n.clone(), l)
            })
            .collect();
        let api_ids = current
            .apis
            .iter()
            .filter_map(|(n, list)| match list.as_slice() {
                [one] => Some((n.clone(), one.id.clone())),
                _ => None,
            })
            .collect();
        Applier { client, desired, latest, api_ids, new_keys: Vec::new(), out }
    }

    /// Performs every change in order; on the first failure, says what was and wasn't
    /// done and returns the error.
    pub fn apply(&mut self, plan: &Plan) -> anyhow::Result<()> {
        let total = plan.changes.len();
        for (i, c) in plan.changes.iter().enumerate() {
            let _ = write!(self.out, "[{}/{total}] {} {} … ", i + 1, c.action_word(), c.address);
            let _ = self.out.flush();
            match self.change(plan, i, c) {
                Ok(()) => {
                    let _ = writeln!(self.out, "done");
                }
                Err(e) => {
                    let _ = writeln!(self.out, "failed");
                    let rest: Vec<&str> = plan.changes[i + 1..].iter().map(|c| c.address.as_str()).collect();
                    let mut msg =
                        format!("{} {} failed: {e:#}\n{i} of {total} changes were made", c.action_word(), c.address);
                    if !rest.is_empty() {
                        msg.push_str(&format!("; not done: {}", rest.join(", ")));
                    }
                    msg.push_str(". Running apply again plans from what the server holds now.");
                    bail!(msg);
                }
            }
        }
        Ok(())
    }

    fn change(&mut self, plan: &Plan, i: usize, c: &Change) -> anyhow::Result<()> {
        match &c.op {
            Op::Function { name } => {
                let d = self.function(name)?;
                if c.action == Action::Create {
                    self.client.json(Method::POST, "/v1/functions", Some(json!({ "name": name })))?;
                    self.latest.insert(
                        name.clone(),
                        Latest { code: None, config: FunctionConfig::default(), reserved_concurrency: None },
                    );
                }
                // Versions follow this change in the plan; `$LATEST` is set after the last.
                let versions_follow =
                    plan.changes[i + 1..].iter().any(|c| matches!(&c.op, Op::Version { name: n, .. } if n == name));
                if !versions_follow {
                    self.set_latest(name, &d.code.hash, &d.code.path, &d.config, d.reserved_concurrency)?;
                }
                Ok(())
            }
            Op::Version { name, number } => {
                let d = self.function(name)?;
                let v = d
                    .versions
                    .iter()
                    .find(|v| v.number == *number)
                    .ok_or_else(|| anyhow!("version {number} is not in the file"))?;
                let rc = self.latest.get(name).and_then(|l| l.reserved_concurrency);
                self.set_latest(name, &v.code.hash, &v.code.path, &v.config, rc)?;
                let body = json!({ "description": v.description, "expected_code_hash": v.code.hash.to_string() });
                let (status, reply) = self.client.json_status(
                    Method::POST,
                    &format!("/v1/functions/{}/versions", enc(name)),
                    Some(body),
                )?;
                let got = reply.get("version").and_then(Value::as_str).unwrap_or("?").to_string();
                if status != 201 || got != number.to_string() {
                    bail!(
                        "the server {} version {got} instead of publishing version {number}",
                        if status == 201 { "published it as" } else { "returned the unchanged" }
                    );
                }
                let last =
                    !plan.changes[i + 1..].iter().any(|c| matches!(&c.op, Op::Version { name: n, .. } if n == name));
                if last {
                    self.set_latest(name, &d.code.hash, &d.code.path, &d.config, d.reserved_concurrency)?;
                }
                Ok(())
            }
            Op::Alias { name, alias } => {
                let a = self
                    .function(name)?
                    .aliases
                    .get(alias)
                    .ok_or_else(|| anyhow!("alias {alias} is not in the file"))?;
                let body = json!({ "version": a.version, "routing": a.routing, "description": a.description });
                self.client.json(
                    Method::PUT,
                    &format!("/v1/functions/{}/aliases/{}", enc(name), enc(alias)),
                    Some(body),
                )?;
                Ok(())
            }
            Op::DeleteAlias { name, alias } => {
                self.client.json(
                    Method::DELETE,
                    &format!("/v1/functions/{}/aliases/{}", enc(name), enc(alias)),
                    None,
                )?;
                Ok(())
            }
            Op::Permission { name, index, old_qualifier } => {
                let p = self.function(name)?.permissions.get(*index).ok_or_else(|| anyhow!("no such statement"))?;
                if c.action == Action::Replace {
                    self.client.json(Method::DELETE, &permission_path(name, &p.id, old_qualifier.as_deref()), None)?;
                }
                let (principal, source) = match &p.principal {
                    Principal::Literal(l) => (l.clone(), p.source.clone()),
                    Principal::Api(api) => {
                        let id = self.api_id(api)?;
                        (format!("api:{id}"), format!("{id}/{}", p.source))
                    }
                };
                let body =
                    json!({ "statement_id": p.id, "principal": principal, "source": source, "qualifier": p.qualifier });
                self.client.json(Method::POST, &format!("/v1/functions/{}/permissions", enc(name)), Some(body))?;
                Ok(())
            }
            Op::DeletePermission { name, statement_id, qualifier } => {
                self.client.json(Method::DELETE, &permission_path(name, statement_id, qualifier.as_deref()), None)?;
                Ok(())
            }
            Op::Api { name } => {
                let d = self.desired.apis.get(name).ok_or_else(|| anyhow!("API {name} is not in the file"))?;
                let reply = self.client.json(
                    Method::POST,
                    "/v1/apis",
                    Some(json!({ "name": name, "description": d.description })),
                )?;
                let id = reply.get("id").and_then(Value::as_str).ok_or_else(|| anyhow!("no id in the reply"))?;
                let _ = write!(self.out, "(id {id}) ");
                self.api_ids.insert(name.clone(), id.to_string());
                Ok(())
            }
            Op::DeleteApi { id, .. } => {
                self.client.json(Method::DELETE, &format!("/v1/apis/{}", enc(id)), None)?;
                Ok(())
            }
            Op::Route { api, index } => {
                let r = self
                    .desired
                    .apis
                    .get(api)
                    .and_then(|a| a.routes.get(*index))
                    .ok_or_else(|| anyhow!("no such route"))?;
                let id = self.api_id(api)?;
                let body =
                    json!({ "method": r.method.as_str(), "path": r.path.as_str(), "integration": r.integration });
                self.client.json(Method::PUT, &format!("/v1/apis/{}/routes", enc(&id)), Some(body))?;
                Ok(())
            }
            Op::DeleteRoute { api, route_id } => {
                let id = self.api_id(api)?;
                self.client.json(Method::DELETE, &format!("/v1/apis/{}/routes/{}", enc(&id), enc(route_id)), None)?;
                Ok(())
            }
            Op::Stage { api, stage, deploy } => self.stage(api, stage, *deploy, c),
            Op::DeleteStage { api, stage } => {
                let id = self.api_id(api)?;
                self.client.json(Method::DELETE, &format!("/v1/apis/{}/stages/{}", enc(&id), enc(stage)), None)?;
                Ok(())
            }
            Op::Key { name } => {
                let k = self.desired.keys.get(name).ok_or_else(|| anyhow!("key {name} is not in the file"))?;
                if c.action == Action::Replace {
                    self.client.json(Method::DELETE, &format!("/v1/keys/{}", enc(name)), None)?;
                }
                let reply =
                    self.client.json(Method::POST, "/v1/keys", Some(json!({ "name": name, "policy": k.policy })))?;
                let key = reply.get("key").and_then(Value::as_str).unwrap_or_default().to_string();
                self.new_keys.push((name.clone(), key));
                Ok(())
            }
            Op::DeleteKey { name } => {
                self.client.json(Method::DELETE, &format!("/v1/keys/{}", enc(name)), None)?;
                Ok(())
            }
            Op::DeleteFunction { name } => {
                self.client.json(Method::DELETE, &format!("/v1/functions/{}", enc(name)), None)?;
                Ok(())
            }
        }
    }

    fn function(&self, name: &str) -> anyhow::Result<&'a DFunction> {
        self.desired.functions.get(name).ok_or_else(|| anyhow!("function {name} is not in the file"))
    }

    fn api_id(&self, api: &str) -> anyhow::Result<String> {
        self.api_ids.get(api).cloned().ok_or_else(|| anyhow!("API {api} has no id yet (it was not created)"))
    }

    /// Brings `$LATEST` to this code and configuration with the calls that differ.
    fn set_latest(
        &mut self,
        name: &str,
        hash: &CodeHash,
        path: &std::path::Path,
        config: &FunctionConfig,
        reserved_concurrency: Option<u32>,
    ) -> anyhow::Result<()> {
        let now = self.latest.get(name).cloned().ok_or_else(|| anyhow!("function {name} does not exist"))?;
        let fname = enc(name);
        let patch: Map<String, Value> = plan::config_values(config)
            .into_iter()
            .zip(plan::config_values(&now.config))
            .filter(|((_, want), (_, have))| want != have)
            .map(|((name, want), _)| (name.to_string(), want))
            .collect();
        if !patch.is_empty() {
            self.client.json(Method::PATCH, &format!("/v1/functions/{fname}/config"), Some(Value::Object(patch)))?;
        }
        if now.code.as_deref() != Some(hash.to_string().as_str()) {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            if CodeHash::of(&bytes) != *hash {
                bail!("{} changed since the plan was made: plan again", path.display());
            }
            let req = self
                .client
                .request(Method::PUT, &format!("/v1/functions/{fname}/code"))
                .header("content-type", "application/wasm")
                .body(bytes);
            self.client.send(req)?;
        }
        if now.reserved_concurrency != reserved_concurrency {
            let path = format!("/v1/functions/{fname}/concurrency");
            match reserved_concurrency {
                Some(n) => self.client.json(Method::PUT, &path, Some(json!({ "reserved_concurrency": n })))?,
                None => self.client.json(Method::DELETE, &path, None)?,
            };
        }
        let mut cfg = config.clone();
        cfg.lambda = now.config.lambda.clone();
        self.latest
            .insert(name.to_string(), Latest { code: Some(hash.to_string()), config: cfg, reserved_concurrency });
        Ok(())
    }

    /// Deploys the declared routes to the stage (creating it) when asked, then sets the
    /// settings that differ.
    fn stage(&mut self, api: &str, stage: &str, deploy: bool, c: &Change) -> anyhow::Result<()> {
        let d = self
            .desired
            .apis
            .get(api)
            .and_then(|a| a.stages.get(stage))
            .ok_or_else(|| anyhow!("stage {api}/{stage} is not in the file"))?;
        let id = enc(&self.api_id(api)?);
        if deploy {
            let body = json!({ "description": "waygate apply", "stage": stage });
            self.client.json(Method::POST, &format!("/v1/apis/{id}/deployments"), Some(body))?;
        }
        // The stage as it is now (a new one has the defaults).
        let now = self.client.json(Method::GET, &format!("/v1/apis/{id}/stages/{}", enc(stage)), None)?;
        let mut patch = Map::new();
        let vars: BTreeMap<String, String> =
            serde_json::from_value(now.get("variables").cloned().unwrap_or(json!({}))).unwrap_or_default();
        if vars != d.variables {
            let mut v = Map::new();
            for k in vars.keys().filter(|k| !d.variables.contains_key(*k)) {
                v.insert(k.clone(), Value::Null);
            }
            for (k, val) in &d.variables {
                v.insert(k.clone(), json!(val));
            }
            patch.insert("variables".into(), Value::Object(v));
        }
        if now.get("description").and_then(Value::as_str).unwrap_or("") != d.description {
            patch.insert("description".into(), json!(d.description));
        }
        if now.get("secret_environment").cloned().unwrap_or(Value::Null) != json!(d.environment) {
            patch.insert("secret_environment".into(), json!(d.environment));
        }
        for (field, want) in
            [("cache", json!(d.cache)), ("throttle", json!(d.throttle)), ("capacity", json!(d.capacity))]
        {
            if now.get(field) != Some(&want) {
                patch.insert(field.into(), want);
            }
        }
        if !patch.is_empty() {
            self.client.json(
                Method::PATCH,
                &format!("/v1/apis/{id}/stages/{}", enc(stage)),
                Some(Value::Object(patch)),
            )?;
        }
        if let Some(url) = now.get("invoke_url").and_then(Value::as_str).filter(|_| c.action == Action::Create) {
            let _ = write!(self.out, "({url}) ");
        }
        Ok(())
    }
}

fn permission_path(name: &str, sid: &str, qualifier: Option<&str>) -> String {
    let mut p = format!("/v1/functions/{}/permissions/{}", enc(name), enc(sid));
    if let Some(q) = qualifier {
        p.push_str(&format!("?qualifier={}", enc(q)));
    }
    p
}

impl Change {
    pub fn action_word(&self) -> &'static str {
        match (&self.op, self.action) {
            (Op::Version { .. }, _) => "publish",
            (Op::Stage { deploy: true, .. }, _) => "deploy",
            (_, Action::Create) => "create",
            (_, Action::Update) => "update",
            (_, Action::Replace) => "replace",
            (_, Action::Delete) => "delete",
        }
    }
}
