use super::{key_value, output, Conn};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum FunctionCmd {
    /// Create a function (its code is uploaded separately).
    Create {
        /// The new function's name: 1–64 of `A-Z a-z 0-9 _ -`.
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
        #[command(flatten)]
        conn: Conn,
    },
    /// Show `$LATEST`: code hash and configuration.
    Get {
        /// The function's name.
        name: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// List all functions with their code hash, code size and last update.
    List {
        #[command(flatten)]
        conn: Conn,
    },
    /// Delete a function with all its versions and aliases.
    Delete {
        /// The function's name.
        name: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Upload `$LATEST`'s code: a WASI preview1 module, or a component (wasi:http proxy or
    /// Waygate handler). Answers when it is compiled (a progress line shows on a terminal).
    Upload {
        /// The function's name.
        name: String,
        /// The WebAssembly module or component (.wasm file) to upload.
        file: PathBuf,
        #[command(flatten)]
        conn: Conn,
    },
    /// Change `$LATEST`'s configuration.
    Config {
        /// The function's name.
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
        /// Remove all environment variables.
        #[arg(long, conflicts_with_all = ["env", "env_set", "env_unset"])]
        clear_env: bool,
        /// KEY=VALUE to add or change, keeping the other variables; repeat for more.
        #[arg(long, value_parser = key_value, conflicts_with = "env")]
        env_set: Vec<(String, String)>,
        /// KEY to remove, keeping the other variables; repeat for more.
        #[arg(long, conflicts_with = "env")]
        env_unset: Vec<String>,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(clap::Args)]
pub struct ConfigArgs {
    /// Memory in MB (1–4096; default 128).
    #[arg(long)]
    memory_mb: Option<u32>,
    /// Timeout in milliseconds (10 ms – 900 s; default 3 s).
    #[arg(long)]
    timeout_ms: Option<u32>,
    /// KEY=VALUE; repeat for more. Replaces the whole set (`function config` names the
    /// variables this removes; `--env-set`/`--env-unset` change single ones).
    #[arg(long, value_parser = key_value)]
    env: Vec<(String, String)>,
    /// A free-text description (up to 256 characters).
    #[arg(long)]
    description: Option<String>,
    /// Where its outbound HTTP requests may go: `SCHEME://HOST[:PORT]` with
    /// `${environment.NAME}` placeholders; repeat for more. Replaces the whole list.
    #[arg(long)]
    outbound: Vec<String>,
    /// Remove every outbound entry (no outbound requests).
    #[arg(long, conflicts_with = "outbound")]
    clear_outbound: bool,
    /// A configuration profile it may read, APP/PROFILE (at /config/APP/PROFILE); repeat
    /// for more. Replaces the whole list.
    #[arg(long = "config", value_name = "APP/PROFILE")]
    config_profiles: Vec<String>,
    /// Read no configuration profiles.
    #[arg(long, conflicts_with = "config_profiles")]
    clear_config: bool,
}

impl ConfigArgs {
    fn to_json(&self, clear_env: bool) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(v) = self.memory_mb {
            m.insert("memory_mb".into(), v.into());
        }
        if let Some(v) = self.timeout_ms {
            m.insert("timeout_ms".into(), v.into());
        }
        if !self.env.is_empty() || clear_env {
            let env: Map<String, Value> = self.env.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect();
            m.insert("env".into(), env.into());
        }
        if let Some(v) = &self.description {
            m.insert("description".into(), v.clone().into());
        }
        if !self.outbound.is_empty() || self.clear_outbound {
            m.insert("outbound".into(), self.outbound.clone().into());
        }
        if !self.config_profiles.is_empty() || self.clear_config {
            m.insert("config".into(), self.config_profiles.clone().into());
        }
        m
    }
}

pub fn run(cmd: FunctionCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        FunctionCmd::Create { name, config, conn } => {
            let mut body = config.to_json(false);
            body.insert("name".into(), name.into());
            let v = conn.client()?.json(Method::POST, "/v1/functions", Some(body.into()))?;
            output::object(conn.output, &v);
        }
        FunctionCmd::Get { name, conn } => {
            let v = conn.client()?.json(Method::GET, &format!("/v1/functions/{name}"), None)?;
            output::object(conn.output, &v);
        }
        FunctionCmd::List { conn } => {
            let v = conn.client()?.list_all("/v1/functions", "functions")?;
            output::list(conn.output, &v, "functions", &["name", "code_hash", "code_size", "updated_at"]);
        }
        FunctionCmd::Delete { name, conn } => {
            conn.client()?.json(Method::DELETE, &format!("/v1/functions/{name}"), None)?;
            if conn.output == output::Output::Text {
                println!("deleted function {name}");
            }
        }
        FunctionCmd::Upload { name, file, conn } => {
            let bytes = std::fs::read(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let client = conn.client()?;
            let req = client
                .request(Method::PUT, &format!("/v1/functions/{name}/code"))
                .header("content-type", "application/wasm")
                .body(bytes);
            // The server answers once the code is compiled (seconds for a JS or Python engine).
            let v: Value = output::with_progress(&format!("uploading and compiling {}", file.display()), || {
                client.send(req).and_then(|r| Ok(r.json()?))
            })?;
            let mut shown = json!({ "code_hash": v["code_hash"], "kind": v["kind"], "size": v["size"],
                "revision_id": v["function"]["revision_id"] });
            if let Some(note) = v["outbound"]["note"].as_str() {
                shown["outbound"] = note.into();
            }
            output::object(conn.output, if conn.output == output::Output::Json { &v } else { &shown });
        }
        FunctionCmd::Config { name, config, clear_env, env_set, env_unset, conn } => {
            let client = conn.client()?;
            let mut body = config.to_json(clear_env);
            let replaces = body.contains_key("env");
            let merges = !env_set.is_empty() || !env_unset.is_empty();
            // The API replaces the whole map (as Lambda's UpdateFunctionConfiguration): to
            // merge, or to say what a replacement drops, read the current one first.
            let current = if replaces || merges {
                let f = client.json(Method::GET, &format!("/v1/functions/{name}"), None)?;
                f["config"]["env"].as_object().cloned().unwrap_or_default()
            } else {
                Map::new()
            };
            if merges {
                let mut env = current.clone();
                for (k, v) in env_set {
                    env.insert(k, v.into());
                }
                for k in &env_unset {
                    if env.remove(k).is_none() {
                        anyhow::bail!("--env-unset {k}: {name} has no such variable");
                    }
                }
                body.insert("env".into(), env.into());
            }
            let dropped: Vec<&String> = match body.get("env").and_then(Value::as_object) {
                Some(new) => current.keys().filter(|k| !new.contains_key(*k)).collect(),
                None => Vec::new(),
            };
            if !dropped.is_empty() && !merges {
                let names: Vec<&str> = dropped.iter().map(|k| k.as_str()).collect();
                eprintln!(
                    "note: --env replaces the whole set; removed {} (use --env-set to keep the others)",
                    names.join(", ")
                );
            }
            let v = client.json(Method::PATCH, &format!("/v1/functions/{name}/config"), Some(body.into()))?;
            output::object(conn.output, &v);
        }
    }
    Ok(ExitCode::SUCCESS)
}
