//! `waygate store copy`: moves an installation between the embedded store (a data
//! directory) and PostgreSQL, either way (`waygate::store::copy`).

use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use waygate::store::copy::{copy, Location};

#[derive(Subcommand)]
pub enum StoreCmd {
    /// Copy every function, version, alias, API, stage, key, secret, value, configuration
    /// and audit entry, every code blob (verified by its hash) and the admin credentials
    /// from one store into an empty one. Stop the servers of both first.
    #[command(
        after_help = "Examples:\n  waygate store copy --from waygate-data --to postgres://waygate@127.0.0.1/waygate\n  waygate store copy --from postgres://waygate@127.0.0.1/waygate --to ./restored-data --master-key-file waygate-data/master.key"
    )]
    Copy(CopyArgs),
}

#[derive(Args)]
pub struct CopyArgs {
    /// A data directory or a postgres:// URL.
    #[arg(long)]
    from: String,
    /// A data directory (created if missing) or a postgres:// URL; must hold no data.
    #[arg(long)]
    to: String,
    /// The installation's master key (secrets and the shared store's admin credentials
    /// are sealed with it). Default: FROM/master.key when FROM is a data directory; the
    /// key itself may be given as WAYGATE_MASTER_KEY (hex) instead.
    #[arg(long, env = "WAYGATE_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
}

pub fn run(cmd: StoreCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        StoreCmd::Copy(a) => run_copy(a),
    }
}

fn run_copy(a: CopyArgs) -> anyhow::Result<ExitCode> {
    let (from, to) = (Location::parse(&a.from), Location::parse(&a.to));
    let key_file = a.master_key_file.clone().or_else(|| match &from {
        Location::Embedded(dir) => Some(dir.join("master.key")),
        Location::Postgres(_) => None,
    });
    let key = match (std::env::var("WAYGATE_MASTER_KEY").ok(), &key_file) {
        (Some(hex), _) => waygate::secrets::MasterKey::from_bytes(hex.as_bytes())?,
        (None, Some(path)) if path.exists() => {
            let bytes = zeroize::Zeroizing::new(std::fs::read(path)?);
            waygate::secrets::MasterKey::from_bytes(&bytes)
                .map_err(|e| anyhow::anyhow!("the master key {}: {e:#}", path.display()))?
        }
        (None, Some(path)) => anyhow::bail!("no master key at {} (give --master-key-file)", path.display()),
        (None, None) => {
            anyhow::bail!("copying out of PostgreSQL needs the installation's master key: give --master-key-file")
        }
    };
    let report = copy(&from, &to, &key)?;
    // An embedded target gets the key file too, so `waygate up --data-dir TO` opens the secrets.
    if let (Location::Embedded(dir), Some(path)) = (&to, &key_file) {
        let target = dir.join("master.key");
        if !target.exists() && path.exists() {
            let data = waygate::store::layout::DataDir::new(dir);
            waygate::store::files::write_atomic(&data.tmp_dir(), &target, &std::fs::read(path)?)?;
        }
    }
    for (table, n) in &report.rows {
        if *n > 0 {
            println!("{table:<24} {n:>8} rows");
        }
    }
    println!("{:<24} {:>8} blobs, {} bytes, each verified by its blake3 hash", "code", report.blobs, report.blob_bytes);
    println!(
        "copied {} into {}",
        a.from.split('@').next_back().unwrap_or(&a.from),
        a.to.split('@').next_back().unwrap_or(&a.to)
    );
    Ok(ExitCode::SUCCESS)
}
