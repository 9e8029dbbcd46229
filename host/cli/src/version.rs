use super::{output, Conn};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Map, Value};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum VersionCmd {
    /// Publish `$LATEST` as a new immutable version (or return the newest if unchanged).
    Publish {
        /// The function's name.
        name: String,
        /// Publish only if `$LATEST`'s code still has this hash.
        #[arg(long)]
        expected_code_hash: Option<String>,
        /// Publish only if `$LATEST`'s revision id is still this one.
        #[arg(long)]
        expected_revision: Option<String>,
        /// A description of the new version (up to 256 characters).
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// List a function's published versions.
    List {
        /// The function's name.
        name: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Show one published version of a function.
    Get {
        /// The function's name.
        name: String,
        /// The version number.
        version: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Delete a published version (refused while an alias points at it).
    Delete {
        /// The function's name.
        name: String,
        /// The version number.
        version: String,
        #[command(flatten)]
        conn: Conn,
    },
}

pub fn run(cmd: VersionCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        VersionCmd::Publish { name, expected_code_hash, expected_revision, description, conn } => {
            let mut body = Map::new();
            for (k, v) in [
                ("expected_code_hash", expected_code_hash),
                ("expected_revision", expected_revision),
                ("description", description),
            ] {
                if let Some(v) = v {
                    body.insert(k.into(), Value::String(v));
                }
            }
            let v = conn.client()?.json(Method::POST, &format!("/v1/functions/{name}/versions"), Some(body.into()))?;
            output::object(conn.output, &v);
        }
        VersionCmd::List { name, conn } => {
            let v = conn.client()?.list_all(&format!("/v1/functions/{name}/versions"), "versions")?;
            output::list(conn.output, &v, "versions", &["version", "code_hash", "description", "created_at"]);
        }
        VersionCmd::Get { name, version, conn } => {
            let v = conn.client()?.json(Method::GET, &format!("/v1/functions/{name}/versions/{version}"), None)?;
            output::object(conn.output, &v);
        }
        VersionCmd::Delete { name, version, conn } => {
            conn.client()?.json(Method::DELETE, &format!("/v1/functions/{name}/versions/{version}"), None)?;
            if conn.output == output::Output::Text {
                println!("deleted version {version} of {name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
