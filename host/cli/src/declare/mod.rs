//! Environments as code: `waygate plan`, `apply` and `export` for a declaration
//! (`waygate.toml`) of functions, versions, aliases, permissions, APIs, stages and keys.
//!
//! file.rs is the declaration's format, desired.rs reads and validates it (the server's
//! model types decide every rule), state.rs reads the server through the management API, plan.rs compares them,
//! apply.rs performs a plan through the same API (so policies and the audit log apply to
//! it as to any client), export.rs writes the server's state as a declaration.

pub mod apply;
pub mod desired;
pub mod export;
pub mod file;
pub mod plan;
pub mod state;

use crate::output::Output;
use crate::Conn;
use anyhow::bail;
use clap::Args;
use serde_json::json;
use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct PlanArgs {
    /// The declaration to compare with the server.
    #[arg(short = 'f', long = "file", default_value = "waygate.toml")]
    file: PathBuf,
    /// Only this stage of each API (the other stages are neither compared nor changed).
    #[arg(long)]
    stage: Option<String>,
    /// Also plan to delete what the server has and the file doesn't (functions, aliases,
    /// permissions, APIs, stages, keys).
    #[arg(long)]
    prune: bool,
    #[command(flatten)]
    conn: Conn,
}

#[derive(Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    plan: PlanArgs,
    /// Apply without asking (required when stdin is not a terminal).
    #[arg(long)]
    auto_approve: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Where to write the declaration; code files go to `code/` beside it.
    #[arg(short = 'o', long = "out", default_value = "waygate.toml")]
    out: PathBuf,
    /// Only this API (name or id); repeat for more. Default: everything.
    #[arg(long)]
    api: Vec<String>,
    /// Only this function; repeat for more. Default: everything.
    #[arg(long)]
    function: Vec<String>,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    conn: Conn,
}

/// Loads the file, reads the server, and plans.
fn make_plan(a: &PlanArgs) -> anyhow::Result<(desired::Desired, state::Current, plan::Plan, crate::client::Client)> {
    if let Some(s) = &a.stage {
        waygate::model::api::StageName::parse(s).map_err(|e| anyhow::anyhow!("--stage: {}", e.0))?;
    }
    let desired = desired::load(&a.file)?;
    let client = a.conn.client()?;
    let scope = state::Scope {
        all: a.prune,
        detail_all: false,
        desired: Some(&desired),
        only_functions: None,
        only_apis: None,
        keys: a.prune,
        stage: a.stage.clone(),
    };
    let current = state::fetch(&client, &scope)?;
    let plan = plan::plan(&desired, &current, &scope, a.prune);
    Ok((desired, current, plan, client))
}

fn plan_json(p: &plan::Plan) -> serde_json::Value {
    let changes: Vec<_> = p
        .changes
        .iter()
        .map(|c| {
            let fields: Vec<_> = c.fields.iter().map(|(f, a, b)| json!({"field": f, "from": a, "to": b})).collect();
            json!({"address": c.address, "action": format!("{:?}", c.action).to_lowercase(), "fields": fields})
        })
        .collect();
    json!({"changes": changes, "kept": p.kept, "warnings": p.warnings, "errors": p.errors})
}

fn show_plan(a: &PlanArgs, p: &plan::Plan) -> anyhow::Result<()> {
    if !p.errors.is_empty() {
        if a.conn.output == Output::Json {
            println!("{}", serde_json::to_string_pretty(&plan_json(p))?);
        }
        bail!("the file cannot be applied:\n  {}", p.errors.join("\n  "));
    }
    match a.conn.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&plan_json(p))?),
        Output::Id => p.changes.iter().for_each(|c| println!("{}", c.address)),
        Output::Text => print!("{}", p.render(&a.file.display().to_string(), &a.conn.endpoint(), a.prune)),
    }
    Ok(())
}

/// `waygate plan`: exit 0 with no changes, 2 with changes, 1 on error.
pub fn run_plan(a: PlanArgs) -> anyhow::Result<ExitCode> {
    let (_, _, p, _) = make_plan(&a)?;
    show_plan(&a, &p)?;
    Ok(if p.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// `waygate apply`: plans, asks (unless `--auto-approve`), performs.
pub fn run_apply(a: ApplyArgs) -> anyhow::Result<ExitCode> {
    let (desired, current, p, client) = make_plan(&a.plan)?;
    show_plan(&a.plan, &p)?;
    if p.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if !a.auto_approve {
        if !std::io::stdin().is_terminal() {
            bail!("not applied: stdin is not a terminal, so nothing can confirm; pass --auto-approve");
        }
        print!("\nApply these changes? Only 'yes' is accepted: ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            bail!("not applied");
        }
    }
    println!();
    let mut out = std::io::stdout();
    let mut applier = apply::Applier::new(&client, &desired, &current, &mut out);
    let result = applier.apply(&p);
    let keys = std::mem::take(&mut applier.new_keys);
    for (name, key) in &keys {
        println!("\nNew key {name} (shown once; only its hash is stored): {key}");
    }
    result?;
    println!("\nApply complete: {} change{} made.", p.changes.len(), if p.changes.len() == 1 { "" } else { "s" });
    Ok(ExitCode::SUCCESS)
}

/// `waygate export`.
pub fn run_export(a: ExportArgs) -> anyhow::Result<ExitCode> {
    if a.out.exists() && !a.force {
        bail!("{} exists: pass --force to replace it", a.out.display());
    }
    let client = a.conn.client()?;
    let filtered = !a.api.is_empty() || !a.function.is_empty();
    let scope = state::Scope {
        all: !filtered,
        detail_all: !filtered,
        desired: None,
        only_functions: filtered.then(|| a.function.iter().cloned().collect::<BTreeSet<_>>()),
        only_apis: filtered.then(|| a.api.iter().cloned().collect::<BTreeSet<_>>()),
        keys: !filtered,
        stage: None,
    };
    let current = state::fetch(&client, &scope)?;
    for f in &a.function {
        if !current.functions.contains_key(f) {
            bail!("no function {f} on the server");
        }
    }
    for api in &a.api {
        if !current.apis.values().flatten().any(|x| &x.name == api || &x.id == api) {
            bail!("no API {api} on the server (give its name or id)");
        }
    }
    let warnings = export::export(&client, &current, &a.out)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "Wrote {} ({} functions, {} APIs{}); code files in {}",
        a.out.display(),
        current.functions.values().filter(|f| f.detail.is_some()).count(),
        current.apis.values().flatten().filter(|x| x.detail.is_some()).count(),
        current.keys.as_ref().map(|k| format!(", {} keys", k.len())).unwrap_or_default(),
        a.out.parent().map(|p| p.join("code")).unwrap_or_else(|| PathBuf::from("code")).display()
    );
    Ok(ExitCode::SUCCESS)
}
