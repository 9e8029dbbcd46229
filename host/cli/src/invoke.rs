use super::{output::Output, Conn};
use clap::Args;
use reqwest::Method;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct InvokeArgs {
    /// NAME, NAME:VERSION, NAME:ALIAS or NAME:$LATEST.
    target: String,
    /// The payload (stdin of the function).
    #[arg(long, conflicts_with = "payload_file")]
    payload: Option<String>,
    /// Read the payload from a file ("-" for stdin).
    #[arg(long)]
    payload_file: Option<PathBuf>,
    /// Whose secrets `secret:NAME` env values resolve from (server default: `default`).
    #[arg(long)]
    environment: Option<String>,
    /// Priority class: production or development (server default: development for
    /// $LATEST, production for versions and aliases).
    #[arg(long, value_parser = ["production", "development"])]
    class: Option<String>,
    #[command(flatten)]
    conn: Conn,
}

/// Prints the function's output on stdout. A function error prints its error payload on
/// stderr and exits with status 1; the executed version goes to stderr in text mode.
pub fn run(a: InvokeArgs) -> anyhow::Result<ExitCode> {
    let (name, qualifier) = waygate::model::qualifier::split_qualified(&a.target);
    let (name, qualifier) = (name.to_string(), qualifier.map(str::to_string));
    let payload = match (&a.payload, &a.payload_file) {
        (Some(p), _) => p.clone().into_bytes(),
        (None, Some(f)) if f.as_os_str() == "-" => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
            buf
        }
        (None, Some(f)) => std::fs::read(f).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?,
        (None, None) => Vec::new(),
    };
    let client = a.conn.client()?;
    let mut req = client.request(Method::POST, &format!("/v1/functions/{name}/invoke")).body(payload);
    if let Some(q) = &qualifier {
        req = req.query(&[("qualifier", q)]);
    }
    if let Some(e) = &a.environment {
        req = req.query(&[("environment", e)]);
    }
    if let Some(c) = &a.class {
        req = req.query(&[("class", c)]);
    }
    let resp = client.send(req)?;
    let header = |k: &str| resp.headers().get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (version, request_id, error) =
        (header("x-waygate-executed-version"), header("x-waygate-request-id"), header("x-waygate-function-error"));
    let body = resp.bytes()?;
    if a.conn.output == Output::Json {
        let payload = serde_json::from_slice::<serde_json::Value>(&body)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).into());
        let error = (!error.is_empty()).then_some(error.clone());
        println!(
            "{}",
            json!({ "executed_version": version, "request_id": request_id, "function_error": error, "payload": payload })
        );
    } else if error.is_empty() {
        std::io::stdout().write_all(&body)?;
        eprintln!("(executed version {version}, request {request_id})");
    } else {
        eprintln!("function error ({error}), executed version {version}, request {request_id}:");
        std::io::stderr().write_all(&body)?;
        eprintln!();
    }
    Ok(if error.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
