use super::{output, Conn};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Map, Value};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum AliasCmd {
    /// Create or move an alias: `waygate alias set orders STABLE 3 --routing 4=0.1`.
    Set {
        /// The function's name.
        name: String,
        /// The alias's name, e.g. STABLE (not all digits).
        alias: String,
        /// A version number or $LATEST.
        version: String,
        /// VERSION=WEIGHT: send WEIGHT (0.0–1.0) of the traffic to VERSION. Omit to clear.
        #[arg(long, value_parser = routing)]
        routing: Option<(String, f64)>,
        /// Change the alias only if its revision id is still this one.
        #[arg(long)]
        expected_revision: Option<String>,
        /// A description of the alias (up to 256 characters).
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Show an alias: its version, routing and revision id.
    Get {
        /// The function's name.
        name: String,
        /// The alias's name.
        alias: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// List a function's aliases.
    List {
        /// The function's name.
        name: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Delete an alias (its versions stay).
    Delete {
        /// The function's name.
        name: String,
        /// The alias's name.
        alias: String,
        #[command(flatten)]
        conn: Conn,
    },
}

fn routing(s: &str) -> Result<(String, f64), String> {
    let (v, w) = s.split_once('=').ok_or_else(|| format!("expected VERSION=WEIGHT, got '{s}'"))?;
    let w: f64 = w.parse().map_err(|_| format!("weight '{w}' is not a number"))?;
    Ok((v.to_string(), w))
}

pub fn run(cmd: AliasCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        AliasCmd::Set { name, alias, version, routing, expected_revision, description, conn } => {
            let mut body = Map::new();
            body.insert("version".into(), version.into());
            let mut r = Map::new();
            if let Some((v, w)) = routing {
                r.insert(v, w.into());
            }
            body.insert("routing".into(), r.into());
            if let Some(e) = expected_revision {
                body.insert("expected_revision".into(), e.into());
            }
            if let Some(d) = description {
                body.insert("description".into(), d.into());
            }
            let v = conn.client()?.json(
                Method::PUT,
                &format!("/v1/functions/{name}/aliases/{alias}"),
                Some(Value::Object(body)),
            )?;
            output::object(conn.output, &v);
        }
        AliasCmd::Get { name, alias, conn } => {
            let v = conn.client()?.json(Method::GET, &format!("/v1/functions/{name}/aliases/{alias}"), None)?;
            output::object(conn.output, &v);
        }
        AliasCmd::List { name, conn } => {
            let v = conn.client()?.json(Method::GET, &format!("/v1/functions/{name}/aliases"), None)?;
            output::list(conn.output, &v, "aliases", &["name", "version", "routing", "revision_id"]);
        }
        AliasCmd::Delete { name, alias, conn } => {
            conn.client()?.json(Method::DELETE, &format!("/v1/functions/{name}/aliases/{alias}"), None)?;
            if conn.output == output::Output::Text {
                println!("deleted alias {alias} of {name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
