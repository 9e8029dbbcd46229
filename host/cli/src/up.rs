use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use waygate::connections::ConnectionLimits;
use waygate::platform::PlatformConfig;
use waygate::server::Server;

#[derive(Args)]
pub struct UpArgs {
    /// Where metadata, code blobs, compiled artifacts and the admin token live.
    #[arg(long, env = "WAYGATE_DATA_DIR", default_value = "waygate-data")]
    data_dir: PathBuf,
    /// The metadata store: `embedded` (a SQLite file in the data directory, the default)
    /// or a PostgreSQL URL (`postgres://USER@HOST/DB`) shared by several hosts, each with
    /// its own data directory for compiled code.
    #[arg(long, env = "WAYGATE_STORE", default_value = "embedded", hide_env_values = true)]
    store: String,
    /// Read the admin token from this file instead of DATA_DIR/admin.token (hosts sharing a
    /// database are given the same token this way).
    #[arg(long, env = "WAYGATE_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,
    /// Management API listener.
    #[arg(long, default_value = "127.0.0.1:9090")]
    admin_addr: SocketAddr,
    /// Gateway listener: the stages' invoke URLs.
    #[arg(long, default_value = "127.0.0.1:8080")]
    gateway_addr: SocketAddr,
    /// Do not register the bundled example functions on an empty data directory.
    #[arg(long)]
    no_examples: bool,
    /// Instances that may run at once (pool size; the concurrency limit).
    #[arg(long, default_value_t = 1000)]
    max_instances: u32,
    /// Instances development work may hold at once (its share of the pool). Default: half
    /// of --max-instances.
    #[arg(long)]
    development_instances: Option<u32>,
    /// Worker threads that run development work at the lowest priority. Default: one per
    /// CPU.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    development_threads: Option<u64>,
    /// Scheduling of the development workers: `lowest` (the idle class, so development
    /// only gets CPU nothing else wants) or `normal` (like production's; for a host shared
    /// with other busy processes, where the idle class can starve `$LATEST` invocations
    /// into timeouts). Production still goes first at every epoch tick either way.
    #[arg(long, value_enum, default_value_t = DevelopmentPriority::Lowest)]
    development_priority: DevelopmentPriority,
    /// Largest code upload, in MiB.
    #[arg(long, default_value_t = 50)]
    max_upload_mb: usize,
    /// Compiled modules kept loaded in memory (LRU).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    loaded_modules: u64,
    /// Memory budget of loaded code, in MiB (the compiled artifacts' sizes); over it the
    /// least recently used code is unloaded. The next request of unloaded code pays one
    /// load (≈ 0.1–0.3 ms); artifacts stay on disk.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    code_cache_mb: u64,
    /// Seconds after which code nobody invoked is unloaded, so idle versions cost only
    /// their metadata; 0 = never.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=604_800))]
    code_idle_s: u64,
    /// Pool slots kept warm (affine to the last module run in them) while unused; each may
    /// keep up to 8 MiB resident.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    warm_slots: u32,
    /// Secrets master key file (32 bytes or 64 hex chars); created 0600 with a random key
    /// when absent. Default: DATA_DIR/master.key. Keep it apart from backups of the data.
    #[arg(long, env = "WAYGATE_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// Memory bound of the stage response cache as a whole, in MiB (all stages share it).
    #[arg(long, default_value_t = 64)]
    cache_max_mb: u64,
    /// Log events (START/stderr/END/REPORT lines) kept in memory per function for
    /// `waygate logs` and the logs API; older ones are dropped.
    #[arg(long, default_value_t = waygate::observe::logs::DEFAULT_LINES as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    log_buffer_lines: u32,
    /// Seconds a connection may take to send a request head once its first byte arrived;
    /// then it is closed. Default 30 (hyper's): slow links finish a few KiB of headers in
    /// time, while a slow-loris client holding half a head frees its slot within 30 s.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout_s: u64,
    /// Seconds a connection with no request in flight (keep-alive between requests, or a
    /// new one that sends nothing) stays open. Default 60 (AWS ALB's): client pools reuse
    /// connections across bursts; abandoned ones go. At the connection cap the
    /// longest-idle connection is closed earlier anyway.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    idle_timeout_s: u64,
    /// Longest gap, in seconds, between two pieces of a request body; past it the request
    /// is answered 408. Default 30: a stalled upload would otherwise hold its connection
    /// forever (a request in flight is never cut by the idle timeout).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    body_timeout_s: u64,
    /// Open connections on the gateway listener. Default: sized from the open-file limit
    /// (raised to the hard limit at start), min(10000, nofile - admin cap -
    /// loaded-modules bound - 256), so a flood cannot take the admin listener's or the
    /// process's own file descriptors (each loaded module keeps its artifact file open). At
    /// the cap the longest-idle connection is closed to admit a new one; if every
    /// connection has a request in flight, new ones wait in the listen backlog.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_gateway_connections: Option<u64>,
    /// Open connections on the admin listener, apart from the gateway's so management
    /// stays reachable while the gateway is flooded. Default 256: management traffic is a
    /// few CLI calls and scrapers. Same behaviour at the cap as the gateway.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_admin_connections: u64,
    /// PEM file of CA certificates trusted for `https` backends (HTTP proxy integrations),
    /// besides the system's (/etc/ssl/certs): for a private CA.
    #[arg(long, env = "WAYGATE_BACKEND_CA_FILE")]
    backend_ca_file: Option<PathBuf>,
    /// Milliseconds to wait for a backend's TCP connection and TLS handshake; then 502.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    backend_connect_timeout_ms: u64,
    /// Idle connections kept open per backend (scheme, host and port) for reuse.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    backend_pool_idle: u64,
    /// The region of the AWS-compatible API: in its ARNs, and the region a SigV4
    /// signature's credential scope must name (`aws --region`).
    #[arg(long, env = "WAYGATE_AWS_REGION", default_value = "us-east-1")]
    aws_region: String,
    /// The 12-digit account id in the AWS-compatible API's ARNs.
    #[arg(long, env = "WAYGATE_AWS_ACCOUNT_ID", default_value = "000000000000")]
    aws_account_id: String,
    /// Milliseconds before the first retry of a failed asynchronous (`Event`) Lambda
    /// invocation; the second retry waits twice as long. Default 60000 (Lambda's 1 minute).
    #[arg(long, default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    event_retry_delay_ms: u64,
    /// Server log format on stderr: `text` (coloured only on a terminal, and never with
    /// NO_COLOR set) or `json` (one object per line, for log collectors).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DevelopmentPriority {
    Lowest,
    Normal,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The server log without `RUST_LOG`: startup, management and errors, but no line per
/// request. The per-request lines (`waygate::gateway::stage`/`canary`: one per gateway
/// request; `waygate::function`: START / stderr / END / REPORT per invocation) stay in the
/// logs API and metrics; `RUST_LOG=info` prints them too. Printing four lines per request
/// halved the full-path throughput at 32 concurrent requests (docs/performance.md).
const DEFAULT_LOG: &str =
    "info,tower_http=warn,waygate::function=warn,waygate::gateway::stage=warn,waygate::gateway::canary=warn";

/// The target of this command's own log lines: the module path they had when the CLI was
/// `waygate::cli` inside the server library, so `RUST_LOG=waygate=...` filters and the
/// printed lines are unchanged.
const LOG_TARGET: &str = "waygate::cli::up";

pub fn run(a: UpArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    // The log goes to stderr; stdout carries only what `up` prints for the user (the
    // examples' report), so `waygate up > file` keeps the two apart.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| DEFAULT_LOG.into()))
        .with_writer(std::io::stderr);
    match a.log_format {
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            logs.with_ansi(colour).init()
        }
        LogFormat::Json => logs.json().init(),
    }
    let mut config = PlatformConfig::new(&a.data_dir);
    config.runtime.max_instances = a.max_instances;
    if let Some(n) = a.development_instances.filter(|n| *n > a.max_instances) {
        anyhow::bail!("--development-instances {n} is more than --max-instances {}", a.max_instances);
    }
    config.runtime.development_instances = a.development_instances;
    config.runtime.development_threads = a.development_threads.map(|n| n as usize);
    config.runtime.lower_development_priority = a.development_priority == DevelopmentPriority::Lowest;
    config.runtime.loaded_modules = a.loaded_modules as usize;
    config.runtime.code_cache_bytes = (a.code_cache_mb as usize) << 20;
    config.runtime.code_idle = (a.code_idle_s > 0).then(|| std::time::Duration::from_secs(a.code_idle_s));
    config.runtime.warm_slots = a.warm_slots;
    config.max_upload_bytes = a.max_upload_mb * 1024 * 1024;
    config.master_key_file = a.master_key_file;
    config.store = match a.store.as_str() {
        "embedded" => None,
        url if url.starts_with("postgres://") || url.starts_with("postgresql://") => Some(url.to_string()),
        other => anyhow::bail!(
            "--store must be 'embedded' or a postgres:// URL, not '{}'",
            other.split('@').next_back().unwrap_or(other)
        ),
    };
    config.admin_token_file = a.admin_token_file.clone();
    // The key itself may come from the environment (e.g. a secrets manager); it is read
    // here rather than as a clap argument so it can never appear in `ps` or --help.
    config.master_key_hex = std::env::var("WAYGATE_MASTER_KEY").ok().map(zeroize::Zeroizing::new);
    config.cache_max_bytes = a.cache_max_mb * 1024 * 1024;
    if a.aws_account_id.len() != 12 || !a.aws_account_id.bytes().all(|b| b.is_ascii_digit()) {
        anyhow::bail!("--aws-account-id must be 12 digits, not '{}'", a.aws_account_id);
    }
    if a.aws_region.is_empty()
        || !a.aws_region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        anyhow::bail!("--aws-region must be a region name such as us-east-1, not '{}'", a.aws_region);
    }
    config.aws = waygate::control::aws::AwsSettings { region: a.aws_region, account_id: a.aws_account_id };
    config.event_retry_delay = Duration::from_millis(a.event_retry_delay_ms);
    config.log_buffer_lines = a.log_buffer_lines as usize;
    config.backend = waygate::backend::BackendConfig {
        ca_file: a.backend_ca_file,
        connect_timeout: Duration::from_millis(a.backend_connect_timeout_ms),
        pool_max_idle_per_host: a.backend_pool_idle as usize,
        ..Default::default()
    };
    config.connections = ConnectionLimits {
        header_read_timeout: Duration::from_secs(a.header_timeout_s),
        idle_timeout: Duration::from_secs(a.idle_timeout_s),
        body_read_timeout: Duration::from_secs(a.body_timeout_s),
        max_gateway_connections: a.max_gateway_connections.map(|n| n as usize),
        max_admin_connections: a.max_admin_connections as usize,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let mut server = Server::start(config, a.admin_addr, a.gateway_addr).await?;
        let p = server.platform.clone();
        // For the CLI (and scripts): `WAYGATE_DATA_DIR` (or `--data-dir`) alone then finds
        // this server, whatever its --admin-addr and --gateway-addr.
        let data = waygate::store::layout::DataDir::new(&a.data_dir);
        for (file, url) in [(data.admin_url(), server.admin_url()), (data.gateway_url(), server.gateway_url())] {
            if let Err(e) = waygate::store::files::write_atomic(&data.tmp_dir(), &file, url.as_bytes()) {
                tracing::warn!(target: LOG_TARGET, error = %e, file = %file.display(), "cannot record the listener's URL (the CLI then needs --endpoint)");
            }
        }

        tracing::info!(
            target: LOG_TARGET,
            admin = %server.admin_url(),
            gateway = %server.gateway_url(),
            data_dir = %a.data_dir.display(),
            pooling = p.runtime.is_pooling(),
            engine = p.runtime.fingerprint(),
            "Waygate is up"
        );
        tracing::info!(
            target: LOG_TARGET,
            "Console: {}/console/ (sign in with the admin token in {})",
            server.admin_url(),
            a.admin_token_file.clone().unwrap_or_else(|| data.admin_token()).display()
        );
        tracing::info!(
            target: LOG_TARGET,
            credentials = %data.aws_credentials().display(),
            region = %p.config.aws.region,
            "AWS-compatible API: AWS_SHARED_CREDENTIALS_FILE={} aws --endpoint-url {} --region {} lambda list-functions",
            data.aws_credentials().display(),
            server.admin_url(),
            p.config.aws.region
        );
        if p.first_start && !a.no_examples {
            let report = waygate::examples::register(&p).await?;
            println!("{}", report.render(&server.admin_url(), &a.data_dir));
            println!("The JavaScript and Python examples (compiling them takes a few seconds):");
            for line in waygate::examples::register_built(&p).await? {
                println!("  - {line}");
            }
            tracing::info!(target: LOG_TARGET, "bundled examples registered");
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                tracing::info!(target: LOG_TARGET, "shutting down");
                server.trigger_shutdown();
                server.wait().await;
            }
            _ = server.wait() => {}
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
