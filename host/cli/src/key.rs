//! `waygate key …`: API keys with policies, from the CLI.

use super::{enc, output, Conn};
use anyhow::Context;
use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum KeyCmd {
    /// Create an API key; the key is printed once (only its hash is stored). `--output id`
    /// prints the key alone: `KEY=$(waygate key create ci-dev --policy "$POLICY" --output id)`.
    Create {
        /// The key's name.
        name: String,
        /// The policy: a JSON list of statements, or `@FILE`.
        #[arg(long)]
        policy: String,
        /// Also issue an AWS access key id and secret access key under the same policy,
        /// for the AWS CLI and SDKs (SigV4); printed once, like the key.
        #[arg(long)]
        aws: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// List API keys with their policies (never the keys themselves).
    List {
        #[command(flatten)]
        conn: Conn,
    },
    /// Revoke a key (effective on its next request).
    Delete {
        /// The name of the key to revoke.
        name: String,
        #[command(flatten)]
        conn: Conn,
    },
}

pub fn run(cmd: KeyCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        KeyCmd::Create { name, policy, aws, conn } => {
            let text = match policy.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
                None => policy,
            };
            let policy: Value = serde_json::from_str(&text).context("the policy is not JSON")?;
            let v = conn.client()?.json(
                Method::POST,
                "/v1/keys",
                Some(json!({ "name": name, "policy": policy, "aws": aws })),
            )?;
            output::object(conn.output, &v);
            if conn.output == output::Output::Text {
                eprintln!("(store the key now: it is not shown again)");
            }
        }
        KeyCmd::List { conn } => {
            let v = conn.client()?.list_all("/v1/keys", "keys")?;
            output::list(conn.output, &v, "keys", &["name", "created_at", "policy"]);
        }
        KeyCmd::Delete { name, conn } => {
            conn.client()?.json(Method::DELETE, &format!("/v1/keys/{}", enc(&name)), None)?;
            output::done(conn.output, &format!("revoked key {name}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
