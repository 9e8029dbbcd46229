//! `waygate cache …`: a stage's response cache (settings, flush, invalidation key).

use super::{output, Conn};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum CacheCmd {
    /// Replace a stage's cache settings: `waygate cache set API prod --ttl 60`.
    Set {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        /// The stage's name (e.g. dev, prod).
        stage: String,
        /// Turn the cache off (on by default with this command).
        #[arg(long)]
        disable: bool,
        /// Seconds an entry lives, 0–3600.
        #[arg(long, default_value_t = 300)]
        ttl: u32,
        /// Let any client refresh entries with `Cache-Control: max-age=0`.
        #[arg(long)]
        no_require_authorization: bool,
        /// FAIL_WITH_403 | SUCCEED_WITH_RESPONSE_HEADER | SUCCEED_WITHOUT_RESPONSE_HEADER.
        #[arg(long, default_value = "FAIL_WITH_403")]
        unauthorized_strategy: String,
        /// Request header that is part of the cache key (repeatable).
        #[arg(long = "key-header")]
        key_headers: Vec<String>,
        /// Per-route overrides as JSON, e.g. '{"POST /search":{"enabled":true}}'.
        #[arg(long)]
        routes: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Drop every cached response of a stage.
    Flush {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        /// The stage's name (e.g. dev, prod).
        stage: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Issue the stage's invalidation key (replaces the previous one; shown once).
    Key {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        /// The stage's name (e.g. dev, prod).
        stage: String,
        #[command(flatten)]
        conn: Conn,
    },
}

pub fn run(cmd: CacheCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        CacheCmd::Set {
            api,
            stage,
            disable,
            ttl,
            no_require_authorization,
            unauthorized_strategy,
            key_headers,
            routes,
            conn,
        } => {
            let routes: Value = match routes {
                Some(r) => serde_json::from_str(&r).map_err(|e| anyhow::anyhow!("--routes is not JSON: {e}"))?,
                None => json!({}),
            };
            let cache = json!({
                "enabled": !disable,
                "ttl_seconds": ttl,
                "require_authorization": !no_require_authorization,
                "unauthorized_strategy": unauthorized_strategy,
                "key_headers": key_headers,
                "routes": routes,
            });
            let path = format!("/v1/apis/{api}/stages/{stage}");
            let v = conn.client()?.json(Method::PATCH, &path, Some(json!({ "cache": cache })))?;
            output::object(conn.output, &v["cache"]);
        }
        CacheCmd::Flush { api, stage, conn } => {
            conn.client()?.json(Method::DELETE, &format!("/v1/apis/{api}/stages/{stage}/cache"), None)?;
            output::done(conn.output, &format!("flushed the cache of stage {stage} of API {api}"));
        }
        CacheCmd::Key { api, stage, conn } => {
            let path = format!("/v1/apis/{api}/stages/{stage}/invalidation-keys");
            let v = conn.client()?.json(Method::POST, &path, None)?;
            output::object(conn.output, &v);
        }
    }
    Ok(ExitCode::SUCCESS)
}
