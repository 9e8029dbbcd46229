//! Command-line interface: `waygate up` runs the platform; every other command drives a
//! running one through the management API. One file per command group.
//!
//! A crate of its own beside the server library (`waygate`), so that the library links
//! neither clap, plotters nor the blocking HTTP client, and imposes no global allocator:
//! mimalloc is chosen here, for the `waygate` binary, the end-to-end tests and the benches.

mod alias;
mod api;
mod audit;
mod bench;
mod cache;
mod canary;
pub mod client;
mod config;
pub mod declare;
mod function;
mod invoke;
mod key;
mod logs;
pub mod output;
mod permission;
mod secret;
mod stage;
mod store;
mod throttle;
mod up;
mod value;
mod version;

use crate::client::Client;
use clap::{Args, Parser, Subcommand};
use output::Output;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "waygate",
    version,
    about = "Self-hosted WebAssembly functions with Lambda-style versions and aliases and API Gateway-style stages"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform (management API + data plane) on the embedded store or a shared
    /// PostgreSQL one (`--store`).
    Up(up::UpArgs),
    /// Create, inspect, update and delete functions.
    #[command(subcommand)]
    #[command(
        after_help = "Examples (from the docs):\n  waygate function create shop --env ORDERS_ENV=v1 --memory-mb 128\n  waygate function upload shop guest-examples/prebuilt/orders.wasm\n  waygate function config shop --env-set ORDERS_ENV=v2"
    )]
    Function(function::FunctionCmd),
    /// Publish and manage immutable versions.
    #[command(subcommand)]
    #[command(
        after_help = "Examples (from the docs):\n  waygate version publish shop --description \"first release\"\n  waygate version list shop"
    )]
    Version(version::VersionCmd),
    /// Point aliases at versions (optionally weighted between two).
    #[command(subcommand)]
    #[command(
        after_help = "Examples (from the docs):\n  waygate alias set shop STABLE 1 --routing 2=0.1\n  waygate alias set shop STABLE 2\n  waygate alias shift greet LIVE --to 2 --strategy Linear20PercentEvery1Second --max-error-rate 5 --wait"
    )]
    Alias(alias::AliasCmd),
    /// Invoke a function: NAME, NAME:VERSION, NAME:ALIAS or NAME:$LATEST.
    #[command(
        after_help = "Examples (from the docs):\n  waygate invoke shop:STABLE --payload '{\"order_id\":\"A1\"}'"
    )]
    Invoke(invoke::InvokeArgs),
    /// Show a function's recent log lines (START / stderr / END / REPORT).
    Logs(logs::LogsArgs),
    /// Load-test a stage URL or a function and report latency and the server-side breakdown.
    Bench(bench::BenchArgs),
    /// Allow API stages to invoke a function (its resource policy).
    #[command(subcommand)]
    Permission(permission::PermissionCmd),
    /// Create and manage REST APIs.
    #[command(subcommand)]
    #[command(after_help = "Examples (from the docs):\n  ID=$(waygate api create shop --output id)")]
    Api(api::ApiCmd),
    /// Edit an API's draft routes (live only after a deployment).
    #[command(subcommand)]
    #[command(
        after_help = "Examples (from the docs):\n  waygate route put $ID ANY '/{proxy+}' --function 'shop:${stageVariables.alias}'\n  waygate route put $ID GET /health --mock-status 200 --mock-body ok"
    )]
    Route(api::RouteCmd),
    /// Snapshot an API's draft as a deployment, optionally onto a stage.
    #[command(
        after_help = "Examples (from the docs):\n  DEP=$(waygate deploy $ID --description \"v1 routes\" --output id)"
    )]
    Deploy(api::DeployArgs),
    /// Stages: environments of an API with their own deployment, variables and invoke URL.
    #[command(subcommand)]
    #[command(
        after_help = "Examples (from the docs):\n  waygate stage put $ID prod --deployment $DEP --var alias=STABLE\n  waygate stage set-var $ID dev alias=STABLE"
    )]
    Stage(stage::StageCmd),
    /// The metadata store itself: copy an installation between a data directory and
    /// PostgreSQL.
    #[command(subcommand)]
    Store(store::StoreCmd),
    /// API keys with policies (who may do what on which resource).
    #[command(subcommand)]
    #[command(
        after_help = "Examples (from the docs):\n  KEY=$(waygate key create ci-dev --policy \"$POLICY\" --output id)\n  waygate key delete ci-dev"
    )]
    Key(key::KeyCmd),
    /// Secrets per environment, referenced from env vars as `secret:NAME`.
    #[command(subcommand)]
    #[command(
        after_help = "Examples (from the docs):\n  printf %s \"prod-pass\" | waygate secret put prod db-password\n  waygate secret list prod"
    )]
    Secret(secret::SecretCmd),
    /// Environment values: non-secret settings per environment, filled into versions'
    /// outbound allow-lists as `${environment.NAME}`.
    #[command(subcommand)]
    #[command(
        after_help = "Examples (from the docs):\n  waygate value set prod paymentsDomain example.com\n  waygate value list prod"
    )]
    Value(value::ValueCmd),
    /// Configuration per environment (AppConfig): profiles, versions, gradual deployments.
    #[command(subcommand)]
    #[command(
        after_help = "Examples (from the docs):\n  waygate config put-version orders flags --file /tmp/flags-v3.json\n  waygate config deploy orders prod --profile flags --version 3 --strategy Linear20PercentEvery1Second --wait"
    )]
    Config(config::ConfigCmd),
    /// Compare a declaration (waygate.toml) with the server: what apply would change.
    /// Exit 0: no changes; 2: changes; 1: error.
    #[command(
        after_help = "Examples (from the docs):\n  waygate plan -f guest-examples/study-guide/waygate.toml\n  waygate apply -f waygate.toml --stage dev"
    )]
    Plan(declare::PlanArgs),
    /// Bring the server to a declaration (waygate.toml) through the management API.
    #[command(
        after_help = "Examples (from the docs):\n  waygate apply -f guest-examples/study-guide/waygate.toml --auto-approve"
    )]
    Apply(declare::ApplyArgs),
    /// Write the server's functions, APIs and keys as a declaration, code files beside it.
    #[command(after_help = "Examples (from the docs):\n  waygate export -o prod/waygate.toml --api orders")]
    Export(declare::ExportArgs),
    /// The audit log of mutating management calls.
    Audit(audit::AuditArgs),
    /// A stage's canary: a share of its traffic on another deployment; promote or remove it.
    #[command(subcommand)]
    #[command(
        after_help = "Examples (from the docs):\n  waygate canary set $ID prod --percent 10 --var alias=EXPERIMENTAL\n  waygate canary promote $ID prod"
    )]
    Canary(canary::CanaryCmd),
    /// A stage's response cache: settings, flush, invalidation key.
    #[command(subcommand)]
    #[command(after_help = "Examples (from the docs):\n  waygate cache flush $ID prod")]
    Cache(cache::CacheCmd),
    /// A stage's throttle (token bucket per stage and route).
    #[command(subcommand)]
    Throttle(throttle::ThrottleCmd),
    /// A function's reserved concurrency (max instances at once).
    #[command(subcommand)]
    Concurrency(throttle::ConcurrencyCmd),
    /// A stage's priority class and concurrency limit; usage per class and stage.
    #[command(subcommand)]
    #[command(
        after_help = "Examples (from the docs):\n  waygate capacity set $ID dev --max-concurrency 4\n  waygate capacity show"
    )]
    Capacity(throttle::CapacityCmd),
}

// How client commands reach the server.
#[derive(Args, Clone)]
pub struct Conn {
    /// Management API endpoint. Default: the URL the server of --data-dir recorded
    /// (DIR/admin.url, written by `waygate up`), else http://127.0.0.1:9090.
    #[arg(long, env = "WAYGATE_ENDPOINT", global = true)]
    endpoint: Option<String>,
    /// Bearer token; defaults to the token file in --data-dir.
    #[arg(long, env = "WAYGATE_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// Data directory of a local server: its admin.token (and admin.url) are read from it.
    #[arg(
        long = "data-dir",
        value_name = "DIR",
        env = "WAYGATE_DATA_DIR",
        default_value = "waygate-data",
        global = true
    )]
    token_dir: PathBuf,
    /// Output: text (or table: tables and `key  value` lines), json (the server's reply as
    /// is) or id (only what identifies the result — an id, name or version, or a new key
    /// itself — one per line, for scripts).
    #[arg(long, value_enum, default_value = "text", global = true)]
    output: Output,
}

impl Conn {
    /// `--endpoint` / `WAYGATE_ENDPOINT`, else what the data directory's server recorded,
    /// else the default admin address. So `WAYGATE_DATA_DIR` alone finds a server started
    /// with any `--admin-addr`.
    fn endpoint(&self) -> String {
        let recorded = || {
            let path = waygate::store::layout::DataDir::new(&self.token_dir).admin_url();
            std::fs::read_to_string(path).ok().map(|u| u.trim().to_string()).filter(|u| !u.is_empty())
        };
        let url = self.endpoint.clone().or_else(recorded).unwrap_or_else(|| "http://127.0.0.1:9090".to_string());
        url.trim_end_matches('/').to_string()
    }

    fn client(&self) -> anyhow::Result<Client> {
        Client::new(&self.endpoint(), self.token()?)
    }

    fn token(&self) -> anyhow::Result<String> {
        Ok(match &self.token {
            Some(t) => t.clone(),
            None => {
                let path = waygate::store::layout::DataDir::new(&self.token_dir).admin_token();
                std::fs::read_to_string(&path)
                    .map(|t| t.trim().to_string())
                    .map_err(|e| anyhow::anyhow!("no --token given and cannot read {}: {e}", path.display()))?
            }
        })
    }
}

/// Percent-encodes a path segment (a key, environment or secret name).
fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Parses `KEY=VALUE`.
fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got '{s}'"))
}

pub fn main() -> std::process::ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(a) => up::run(a),
        Command::Function(c) => function::run(c),
        Command::Version(c) => version::run(c),
        Command::Alias(c) => alias::run(c),
        Command::Invoke(a) => invoke::run(a),
        Command::Logs(a) => logs::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Permission(c) => permission::run(c),
        Command::Api(c) => api::run_api(c),
        Command::Route(c) => api::run_route(c),
        Command::Deploy(a) => api::run_deploy(a),
        Command::Stage(c) => stage::run(c),
        Command::Key(c) => key::run(c),
        Command::Store(c) => store::run(c),
        Command::Secret(c) => secret::run(c),
        Command::Value(c) => value::run(c),
        Command::Config(c) => config::run(c),
        Command::Plan(a) => declare::run_plan(a),
        Command::Apply(a) => declare::run_apply(a),
        Command::Export(a) => declare::run_export(a),
        Command::Audit(a) => audit::run(a),
        Command::Canary(c) => canary::run(c),
        Command::Cache(c) => cache::run(c),
        Command::Throttle(c) => throttle::run(c),
        Command::Concurrency(c) => throttle::run_concurrency(c),
        Command::Capacity(c) => throttle::run_capacity(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// mimalloc instead of glibc's malloc, for every binary that links this crate (the
/// `waygate` binary, the end-to-end tests and the benches alike): a request allocates a few hundred small objects across two
/// worker threads, and glibc's arenas showed up in profiles as lock waits
/// (`__lll_lock_wait_private`) and `malloc_consolidate`. Figures in docs/performance.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc (v3) returns freed pages to the OS 1 s after they empty (`purge_delay`). In
/// the gateway bench, whose two servers take turns, each pause longer than that made the
/// first requests after it fault their pages back in: route p99 158–165 µs with 1,000
/// APIs, 12 µs with a 10 s delay. Ten seconds keep the memory of a server with steady or
/// bursty traffic resident and give it back after ten seconds without traffic.
/// `MIMALLOC_PURGE_DELAY` (ms, -1 = never) in the environment wins. Called by [`main`]
/// before anything else (so before `waygate up` opens the platform) and by the benches.
pub fn tune_allocator() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // `mi_option_purge_delay` in the mimalloc v3 header vendored by libmimalloc-sys
        // 0.1.49 (pinned in Cargo.toml); the crate exports no constant for it.
        const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
        const PURGE_DELAY_MS: std::ffi::c_long = 10_000;
        // SAFETY: sets a plain integer option; mimalloc reads options atomically.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    });
}

#[cfg(test)]
mod tests {
    /// The examples in `--help` are the docs' own lines: each `waygate …` line of an
    /// `after_help` appears verbatim in README.md or a docs/ page (where `cargo test` runs
    /// the runnable ones), so help and docs cannot drift apart.
    #[test]
    fn help_examples_are_lines_of_the_docs() {
        use clap::CommandFactory;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut docs = std::fs::read_to_string(root.join("README.md")).expect("README.md");
        for e in std::fs::read_dir(root.join("docs")).expect("docs/") {
            let path = e.expect("entry").path();
            if path.extension().is_some_and(|x| x == "md") {
                docs.push_str(&std::fs::read_to_string(path).expect("a docs page"));
            }
        }
        let mut checked = 0;
        for cmd in super::Cli::command().get_subcommands() {
            let Some(help) = cmd.get_after_help().map(|h| h.to_string()) else { continue };
            for line in help.lines().map(str::trim).filter(|l| l.contains("waygate ")) {
                assert!(docs.contains(line), "`waygate {} --help` shows {line:?}, which no doc has", cmd.get_name());
                checked += 1;
            }
        }
        assert!(checked >= 10, "only {checked} help examples");
    }

    /// docs/cli.md's table of commands names every command the CLI has.
    #[test]
    fn the_cli_page_lists_every_command() {
        use clap::CommandFactory;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let page = std::fs::read_to_string(root.join("docs/cli.md")).expect("docs/cli.md");
        let table: Vec<&str> = page.lines().filter(|l| l.starts_with("| `")).collect();
        for cmd in super::Cli::command().get_subcommands() {
            let name = format!("`{}`", cmd.get_name());
            assert!(
                table.iter().any(|row| row.split('|').nth(1).is_some_and(|c| c.contains(&name))),
                "docs/cli.md's command table lacks {name}"
            );
        }
    }

    /// Every command and argument of the CLI says what it is for: walks the clap tree and
    /// lists each command without an `about`, each pair of sibling commands with the same
    /// `about`, and each argument without help.
    #[test]
    fn every_command_and_argument_has_its_own_help() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: &str, problems: &mut Vec<String>) {
            let mut seen = std::collections::HashMap::new();
            for sub in cmd.get_subcommands().filter(|c| c.get_name() != "help") {
                let here = format!("{path} {}", sub.get_name());
                let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
                if about.trim().is_empty() {
                    problems.push(format!("{here}: no about"));
                } else if let Some(other) = seen.insert(about.clone(), here.clone()) {
                    problems.push(format!("{here} and {other} share the about {about:?}"));
                }
                for arg in sub.get_arguments() {
                    let id = arg.get_id().as_str();
                    if matches!(id, "help" | "version") {
                        continue;
                    }
                    if arg.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                        problems.push(format!("{here} <{id}>: no help"));
                    }
                }
                walk(sub, &here, problems);
            }
        }
        let mut problems = Vec::new();
        walk(&super::Cli::command(), "waygate", &mut problems);
        assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    }

    #[test]
    fn the_tuned_allocator_option_is_purge_delay() {
        // Option 15 must be the one whose default is purge_delay's 1000 ms (or our 10 s
        // once tuned in this process); then tuning sets it.
        let before = unsafe { libmimalloc_sys::mi_option_get(15) };
        assert!(before == 1000 || before == 10_000, "option 15 is {before}: not purge_delay?");
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            super::tune_allocator();
            assert_eq!(unsafe { libmimalloc_sys::mi_option_get(15) }, 10_000);
        }
    }
}
