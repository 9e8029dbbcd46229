//! `waygate logs NAME[:QUALIFIER] [--since T] [--limit N] [--follow]`: a function's recent
//! log events (START / stderr / END / REPORT), from the server's in-memory buffer.

use super::{output::Output, Conn};
use clap::Args;
use reqwest::Method;
use serde_json::Value;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct LogsArgs {
    /// NAME, or NAME:QUALIFIER to keep only one version's or alias's invocations.
    target: String,
    /// Only events at or after this time: Unix milliseconds or RFC 3339.
    #[arg(long)]
    since: Option<String>,
    /// Most events to print at first (the newest ones).
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Keep polling for new events (every 500 ms) until interrupted.
    #[arg(long, short)]
    follow: bool,
    #[command(flatten)]
    conn: Conn,
}

pub fn run(a: LogsArgs) -> anyhow::Result<ExitCode> {
    let (name, qualifier) = waygate::model::qualifier::split_qualified(&a.target);
    let (name, qualifier) = (name.to_string(), qualifier.map(str::to_string));
    let client = a.conn.client()?;
    let mut after: Option<u64> = None;
    loop {
        let mut query: Vec<(&str, String)> = vec![("limit", a.limit.to_string())];
        if let Some(q) = &qualifier {
            query.push(("qualifier", q.clone()));
        }
        match after {
            Some(n) => query.push(("after", n.to_string())),
            None => {
                if let Some(s) = &a.since {
                    query.push(("since", s.clone()));
                }
            }
        }
        let reply: Value =
            client.send(client.request(Method::GET, &format!("/v1/functions/{name}/logs")).query(&query))?.json()?;
        for e in reply["events"].as_array().into_iter().flatten() {
            print_event(a.conn.output, e);
        }
        after = reply["next_after"].as_u64().or(after);
        if !a.follow {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn print_event(out: Output, e: &Value) {
    if out == Output::Json {
        println!("{e}");
        return;
    }
    let ts = e["timestamp"]
        .as_i64()
        .and_then(|ms| time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default();
    println!("{ts}\t{}", e["message"].as_str().unwrap_or_default());
}
