//! `waygate cache …`: a stage's response cache (settings, flush, invalidation key).

use super::{output, Conn};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum CacheCmd {
    /// Change a stage's cache settings: `waygate cache set API prod --ttl 60`. Only the
    /// options given change; the cache is switched on unless --disable is given.
    Set {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        /// The stage's name (e.g. dev, prod).
        stage: String,
        /// Turn the cache off (its other settings are kept).
        #[arg(long)]
        disable: bool,
        /// Seconds an entry lives, 0–3600 (default 300).
        #[arg(long)]
        ttl: Option<u32>,
        /// Let any client refresh entries with `Cache-Control: max-age=0`.
        #[arg(long, conflicts_with = "require_authorization")]
        no_require_authorization: bool,
        /// Only holders of the invalidation key may refresh entries (the default).
        #[arg(long)]
        require_authorization: bool,
        /// FAIL_WITH_403 | SUCCEED_WITH_RESPONSE_HEADER | SUCCEED_WITHOUT_RESPONSE_HEADER.
        #[arg(long)]
        unauthorized_strategy: Option<String>,
        /// Request header that is part of the cache key (repeatable; replaces the list).
        #[arg(long = "key-header")]
        key_headers: Vec<String>,
        /// Per-route overrides as JSON, e.g. '{"POST /search":{"enabled":true}}' (replaces them).
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
    /// Issue a new invalidation key for the stage (replaces the previous one; shown once).
    #[command(name = "issue-key", alias = "key")]
    IssueKey {
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
            require_authorization,
            unauthorized_strategy,
            key_headers,
            routes,
            conn,
        } => {
            let client = conn.client()?;
            let path = format!("/v1/apis/{api}/stages/{stage}");
            // The API replaces the settings as a whole; the CLI changes only what was given.
            let mut cache = client.json(Method::GET, &path, None)?["cache"].clone();
            let Some(c) = cache.as_object_mut() else { anyhow::bail!("the stage's reply has no cache settings") };
            c.insert("enabled".into(), (!disable).into());
            if let Some(t) = ttl {
                c.insert("ttl_seconds".into(), t.into());
            }
            if no_require_authorization || require_authorization {
                c.insert("require_authorization".into(), require_authorization.into());
            }
            if let Some(u) = unauthorized_strategy {
                c.insert("unauthorized_strategy".into(), u.into());
            }
            if !key_headers.is_empty() {
                c.insert("key_headers".into(), key_headers.into());
            }
            if let Some(r) = routes {
                let r: Value = serde_json::from_str(&r).map_err(|e| anyhow::anyhow!("--routes is not JSON: {e}"))?;
                c.insert("routes".into(), r);
            }
            let v = client.json(Method::PATCH, &path, Some(json!({ "cache": cache })))?;
            output::object(conn.output, &v["cache"]);
        }
        CacheCmd::Flush { api, stage, conn } => {
            conn.client()?.json(Method::DELETE, &format!("/v1/apis/{api}/stages/{stage}/cache"), None)?;
            output::done(conn.output, &format!("flushed the cache of stage {stage} of API {api}"));
        }
        CacheCmd::IssueKey { api, stage, conn } => {
            let path = format!("/v1/apis/{api}/stages/{stage}/invalidation-keys");
            let v = conn.client()?.json(Method::POST, &path, None)?;
            output::object(conn.output, &v);
        }
    }
    Ok(ExitCode::SUCCESS)
}
