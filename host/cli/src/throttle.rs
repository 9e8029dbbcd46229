//! `waygate throttle …` (stage token buckets), `waygate concurrency …` (a function's
//! reserved concurrency) and `waygate capacity …` (a stage's priority class and
//! concurrency limit, and what each class and stage uses): the ways to keep one workload
//! from starving another.

use super::{output, Conn};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ThrottleCmd {
    /// Replace a stage's throttle: `waygate throttle set API dev --rate 100 --burst 200`.
    Set {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        /// The stage's name (e.g. dev, prod).
        stage: String,
        /// Requests per second (token refill rate).
        #[arg(long)]
        rate: Option<f64>,
        /// Bucket size: requests allowed at once.
        #[arg(long)]
        burst: Option<u32>,
        /// Per-route limits as JSON, e.g. '{"GET /items":{"rate_per_second":5,"burst":10}}'.
        #[arg(long)]
        routes: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Remove a stage's throttle.
    #[command(name = "remove", alias = "clear")]
    Clear {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        /// The stage's name (e.g. dev, prod).
        stage: String,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Subcommand)]
pub enum ConcurrencyCmd {
    /// At most N instances of FUNCTION at once (0 = throttle every invocation).
    Set {
        /// The function's name.
        function: String,
        /// Most instances running at once (0 = throttle every invocation).
        reserved: u32,
        #[command(flatten)]
        conn: Conn,
    },
    /// Unlimited again (within the instance pool).
    Remove {
        /// The function's name.
        function: String,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Subcommand)]
pub enum CapacityCmd {
    /// Replace a stage's capacity: `waygate capacity set API dev --class development
    /// --max-concurrency 4`. Absent options take their defaults (class from the stage's
    /// name: production for prod/production, development otherwise; no limit).
    Set {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        /// The stage's name (e.g. dev, prod).
        stage: String,
        /// Which work runs first: production, or development (low priority, own share of
        /// the instance pool).
        #[arg(long, value_parser = ["production", "development"])]
        class: Option<String>,
        /// Instances of the stage's integrations running at once; over it: 429.
        #[arg(long)]
        max_concurrency: Option<u32>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Remove a stage's capacity settings: back to the defaults.
    #[command(name = "remove", alias = "clear")]
    Clear {
        /// The API's id (as printed by `waygate api create`).
        api: String,
        /// The stage's name (e.g. dev, prod).
        stage: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Instances running, refusals, queue wait, CPU time and yields per class and stage,
    /// and the instance pool (`GET /v1/runtime`).
    Show {
        #[command(flatten)]
        conn: Conn,
    },
}

pub fn run_capacity(cmd: CapacityCmd) -> anyhow::Result<ExitCode> {
    let (api, stage, capacity, conn) = match cmd {
        CapacityCmd::Set { api, stage, class, max_concurrency, conn } => {
            let mut c = json!({ "class": class, "max_concurrency": max_concurrency });
            if let Some(o) = c.as_object_mut() {
                o.retain(|_, v| !v.is_null());
            }
            (api, stage, c, conn)
        }
        CapacityCmd::Clear { api, stage, conn } => (api, stage, json!({}), conn),
        CapacityCmd::Show { conn } => {
            let v = conn.client()?.json(Method::GET, "/v1/runtime", None)?;
            output::object(conn.output, &v);
            return Ok(ExitCode::SUCCESS);
        }
    };
    let path = format!("/v1/apis/{api}/stages/{stage}");
    let v = conn.client()?.json(Method::PATCH, &path, Some(json!({ "capacity": capacity })))?;
    let mut shown = v["capacity"].clone();
    if let Some(o) = shown.as_object_mut() {
        o.insert("priority_class".into(), v["priority_class"].clone());
    }
    output::object(conn.output, &shown);
    Ok(ExitCode::SUCCESS)
}

pub fn run(cmd: ThrottleCmd) -> anyhow::Result<ExitCode> {
    let (api, stage, throttle, conn) = match cmd {
        ThrottleCmd::Set { api, stage, rate, burst, routes, conn } => {
            let routes: Value = match routes {
                Some(r) => serde_json::from_str(&r).map_err(|e| anyhow::anyhow!("--routes is not JSON: {e}"))?,
                None => json!({}),
            };
            (api, stage, json!({ "rate_per_second": rate, "burst": burst, "routes": routes }), conn)
        }
        ThrottleCmd::Clear { api, stage, conn } => (api, stage, json!({}), conn),
    };
    let mut throttle = throttle;
    if let Some(o) = throttle.as_object_mut() {
        o.retain(|_, v| !v.is_null());
    }
    let path = format!("/v1/apis/{api}/stages/{stage}");
    let v = conn.client()?.json(Method::PATCH, &path, Some(json!({ "throttle": throttle })))?;
    output::object(conn.output, &v["throttle"]);
    Ok(ExitCode::SUCCESS)
}

pub fn run_concurrency(cmd: ConcurrencyCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ConcurrencyCmd::Set { function, reserved, conn } => {
            let body = json!({ "reserved_concurrency": reserved });
            let v = conn.client()?.json(Method::PUT, &format!("/v1/functions/{function}/concurrency"), Some(body))?;
            output::object(conn.output, &v);
        }
        ConcurrencyCmd::Remove { function, conn } => {
            conn.client()?.json(Method::DELETE, &format!("/v1/functions/{function}/concurrency"), None)?;
            output::done(conn.output, &format!("{function}: reserved concurrency removed"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
