//! `waygate audit`: the audit log of mutating management calls.

use super::{output, Conn};
use clap::Args;
use reqwest::Method;
use std::process::ExitCode;

#[derive(Args)]
pub struct AuditArgs {
    /// A key name, `admin` or `unauthenticated`.
    #[arg(long)]
    principal: Option<String>,
    /// An action, e.g. `function:Create`.
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
    /// Most entries to return, newest first (1–1000).
    #[arg(long, default_value_t = 100)]
    limit: u32,
    #[command(flatten)]
    conn: Conn,
}

pub fn run(a: AuditArgs) -> anyhow::Result<ExitCode> {
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
