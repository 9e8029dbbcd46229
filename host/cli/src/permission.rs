//! `waygate permission …`: a function's resource policy, which API stages may invoke it.

use super::{output, Conn};
use clap::Subcommand;
use reqwest::Method;
use serde_json::json;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum PermissionCmd {
    /// Allow an API to invoke the function (or one of its aliases/versions with --qualifier):
    /// `waygate permission add orders prod-api --principal api:ID --source 'ID/*/*/*' --qualifier STABLE`.
    Add {
        /// The function's name.
        function: String,
        /// An id for the new statement: 1–100 of `A-Z a-z 0-9 _ -`.
        statement_id: String,
        /// `api:API_ID` or `*`.
        #[arg(long)]
        principal: String,
        /// `API_ID/STAGE/METHOD/PATH` with `*` wildcards.
        #[arg(long)]
        source: String,
        /// A version number or alias; none = the unqualified function (covers $LATEST).
        #[arg(long)]
        qualifier: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// List the statements of a function's resource policy.
    List {
        /// The function's name.
        function: String,
        /// A version number or alias whose policy to list; none = the unqualified function.
        #[arg(long)]
        qualifier: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Remove a statement from a function's resource policy.
    Remove {
        /// The function's name.
        function: String,
        /// The id of the statement to remove.
        statement_id: String,
        /// The version number or alias whose policy holds it; none = the unqualified function.
        #[arg(long)]
        qualifier: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
}

fn qualifier_query(q: &Option<String>) -> String {
    match q {
        Some(q) => format!("?qualifier={}", crate::enc(q)),
        None => String::new(),
    }
}

pub fn run(cmd: PermissionCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        PermissionCmd::Add { function, statement_id, principal, source, qualifier, conn } => {
            let body = json!({ "statement_id": statement_id, "principal": principal, "source": source, "qualifier": qualifier });
            let v = conn.client()?.json(Method::POST, &format!("/v1/functions/{function}/permissions"), Some(body))?;
            output::object(conn.output, &v);
        }
        PermissionCmd::List { function, qualifier, conn } => {
            let path = format!("/v1/functions/{function}/permissions{}", qualifier_query(&qualifier));
            let v = conn.client()?.json(Method::GET, &path, None)?;
            output::list(conn.output, &v, "statements", &["statement_id", "principal", "source", "qualifier"]);
        }
        PermissionCmd::Remove { function, statement_id, qualifier, conn } => {
            let path = format!("/v1/functions/{function}/permissions/{statement_id}{}", qualifier_query(&qualifier));
            conn.client()?.json(Method::DELETE, &path, None)?;
            output::done(conn.output, &format!("removed statement {statement_id} from {function}'s policy"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
