//! `waygate secret …`: secrets per environment, referenced from env vars as `secret:NAME`.
//! Values are read from stdin (or a file), never from the command line, where they would
//! show in `ps` and shell history.

use super::{enc, output, Conn};
use anyhow::Context;
use clap::Subcommand;
use reqwest::Method;
use serde_json::json;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum SecretCmd {
    /// Set a secret of an environment from stdin (or --from-file): `printf %s "$PW" |
    /// waygate secret put prod db-password`.
    Put {
        /// The environment, e.g. prod (chosen at invoke time with --environment).
        environment: String,
        /// The secret's name.
        name: String,
        /// Read the value from this file instead of stdin.
        #[arg(long)]
        from_file: Option<PathBuf>,
        /// Store an empty value (refused otherwise: it is almost always an unset shell
        /// variable, e.g. `printf %s "$TYPO" | waygate secret put …`).
        #[arg(long)]
        allow_empty: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// List an environment's secret names (values are never returned).
    List {
        /// The environment, e.g. prod.
        environment: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Delete a secret of an environment.
    Delete {
        /// The environment, e.g. prod.
        environment: String,
        /// The secret's name.
        name: String,
        #[command(flatten)]
        conn: Conn,
    },
}

pub fn run(cmd: SecretCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        SecretCmd::Put { environment, name, from_file, allow_empty, conn } => {
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
            let trimmed = zeroize::Zeroizing::new(value.trim_end_matches(['\n', '\r']).to_string());
            if trimmed.is_empty() && !allow_empty {
                anyhow::bail!(
                    "the value for secret {name} is empty (an unset variable?); give --allow-empty to store it"
                );
            }
            let path = format!("/v1/secrets/{}/{}", enc(&environment), enc(&name));
            let v = conn.client()?.json(Method::PUT, &path, Some(json!({ "value": trimmed.as_str() })))?;
            output::object(conn.output, &v);
        }
        SecretCmd::List { environment, conn } => {
            let v = conn.client()?.list_all(&format!("/v1/secrets/{}", enc(&environment)), "secrets")?;
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
