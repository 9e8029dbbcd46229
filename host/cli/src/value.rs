//! `waygate value …`: environment values, the non-secret settings per environment that
//! versions' outbound allow-lists name as `${environment.NAME}`.

use super::{enc, output, Conn};
use clap::Subcommand;
use reqwest::Method;
use serde_json::json;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ValueCmd {
    /// Set a value of an environment: `waygate value set prod paymentsHost payments.example.com`.
    Set {
        /// The environment, e.g. prod (a stage's `secret_environment`, or `--environment`
        /// of a direct invoke).
        environment: String,
        /// The value's name, as `${environment.NAME}` uses it.
        name: String,
        /// The value (1–512 printable characters, no spaces).
        value: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// List an environment's values.
    List {
        /// The environment, e.g. prod.
        environment: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Delete a value of an environment.
    Delete {
        /// The environment, e.g. prod.
        environment: String,
        /// The value's name.
        name: String,
        #[command(flatten)]
        conn: Conn,
    },
}

pub fn run(cmd: ValueCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ValueCmd::Set { environment, name, value, conn } => {
            let path = format!("/v1/environments/{}/values/{}", enc(&environment), enc(&name));
            let v = conn.client()?.json(Method::PUT, &path, Some(json!({ "value": value })))?;
            output::object(conn.output, &v);
        }
        ValueCmd::List { environment, conn } => {
            let path = format!("/v1/environments/{}/values", enc(&environment));
            let v = conn.client()?.list_all(&path, "values")?;
            output::list(conn.output, &v, "values", &["environment", "name", "value", "updated_at"]);
        }
        ValueCmd::Delete { environment, name, conn } => {
            let path = format!("/v1/environments/{}/values/{}", enc(&environment), enc(&name));
            conn.client()?.json(Method::DELETE, &path, None)?;
            output::done(conn.output, &format!("deleted value {name} of {environment}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
