//! `waygate key …`, `waygate secret …` and `waygate audit`: access control from the CLI.
//! Secret values are read from stdin (or a file), never from the command line, where
//! they would show in `ps` and shell history.

use super::{output, Conn};
use anyhow::Context;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum KeyCmd {
    /// Create an API key; the key is printed once (only its hash is stored):
    /// `waygate key create ci-dev --policy @ci-dev.json`.
    Create {
        name: String,
        /// The policy: a JSON list of statements, or `@FILE`.
        #[arg(long)]
        policy: String,
        #[command(flatten)]
        conn: Conn,
    },
    List {
        #[command(flatten)]
        conn: Conn,
    },
    /// Revoke a key (effective on its next request).
    Delete {
        name: String,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Subcommand)]
pub enum SecretCmd {
    /// Set a secret of an environment from stdin (or --from-file): `printf %s "$PW" |
    /// waygate secret put prod db-password`.
    Put {
        environment: String,
        name: String,
        /// Read the value from this file instead of stdin.
        #[arg(long)]
        from_file: Option<PathBuf>,
        #[command(flatten)]
        conn: Conn,
    },
    /// List an environment's secret names (values are never returned).
    List {
        environment: String,
        #[command(flatten)]
        conn: Conn,
    },
    Delete {
        environment: String,
        name: String,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Args)]
pub struct AuditArgs {
    /// A key name, `admin` or `unauthenticated`.
    #[arg(long)]
    principal: Option<String>,
    #[arg(long)]
    action: Option<String>,
    /// Resource prefix, e.g. `function/orders`.
    #[arg(long)]
    resource: Option<String>,
    /// RFC 3339 time: entries at or after it.
    #[arg(long)]
    since: Option<String>,
    /// Page backwards: entries with an id below this (from `next_before`).
    #[arg(long)]
    before: Option<i64>,
    #[arg(long, default_value_t = 100)]
    limit: u32,
    #[command(flatten)]
    conn: Conn,
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub fn run_key(cmd: KeyCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        KeyCmd::Create { name, policy, conn } => {
            let text = match policy.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
                None => policy,
            };
            let policy: Value = serde_json::from_str(&text).context("the policy is not JSON")?;
            let v = conn.client()?.json(Method::POST, "/v1/keys", Some(json!({ "name": name, "policy": policy })))?;
            output::object(conn.output, &v);
            if conn.output == output::Output::Text {
                eprintln!("(store the key now: it is not shown again)");
            }
        }
        KeyCmd::List { conn } => {
            let v = conn.client()?.json(Method::GET, "/v1/keys", None)?;
            output::list(conn.output, &v, "keys", &["name", "created_at", "policy"]);
        }
        KeyCmd::Delete { name, conn } => {
            conn.client()?.json(Method::DELETE, &format!("/v1/keys/{}", enc(&name)), None)?;
            output::done(conn.output, &format!("revoked key {name}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_secret(cmd: SecretCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        SecretCmd::Put { environment, name, from_file, conn } => {
            let mut value = zeroize::Zeroizing::new(String::new());
            match from_file {
                Some(path) => {
                    *value = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?
                }
                None => {
                    std::io::stdin().read_to_string(&mut value).context("reading the value from stdin")?;
                }
            }
            // A trailing newline from `echo` or an editor is almost never part of a secret.
            let trimmed = value.trim_end_matches(['\n', '\r']).to_string();
            let path = format!("/v1/secrets/{}/{}", enc(&environment), enc(&name));
            let v = conn.client()?.json(Method::PUT, &path, Some(json!({ "value": trimmed })))?;
            output::object(conn.output, &v);
        }
        SecretCmd::List { environment, conn } => {
            let v = conn.client()?.json(Method::GET, &format!("/v1/secrets/{}", enc(&environment)), None)?;
            output::list(conn.output, &v, "secrets", &["environment", "name", "updated_at"]);
        }
        SecretCmd::Delete { environment, name, conn } => {
            let path = format!("/v1/secrets/{}/{}", enc(&environment), enc(&name));
            conn.client()?.json(Method::DELETE, &path, None)?;
            output::done(conn.output, &format!("deleted secret {name} of {environment}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_audit(a: AuditArgs) -> anyhow::Result<ExitCode> {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [("principal", &a.principal), ("action", &a.action), ("resource", &a.resource), ("since", &a.since)] {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    if let Some(b) = a.before {
        q.append_pair("before", &b.to_string());
    }
    q.append_pair("limit", &a.limit.to_string());
    let v = a.conn.client()?.json(Method::GET, &format!("/v1/audit?{}", q.finish()), None)?;
    output::list(a.conn.output, &v, "entries", &["id", "at", "principal", "method", "action", "resource", "status"]);
    Ok(ExitCode::SUCCESS)
}
