//! The one place that knows the data directory's layout:
//!
//! ```text
//! DATA_DIR/               0700 (created so; an existing looser one is warned about)
//!   waygate.db            SQLite metadata (WAL; -wal/-shm inherit the db file's 0600)
//!   waygate.lock          held (flock) by the one process serving this directory
//!   admin.token           management API bearer token
//!   admin.url             the running server's management URL (written by `waygate up`,
//!                         read by the CLI to find it)
//!   gateway.url           the running server's gateway URL (written by `waygate up`)
//!   master.key            secrets master key (default location; `--master-key-file`)
//!   blobs/ab/abcdef….wasm code blobs, named by blake3 hash
//!   artifacts/FINGERPRINT/abcdef….cwasm  compiled code per engine fingerprint
//!   tmp/                  staging for atomic writes (same filesystem as the targets);
//!                         emptied at every start
//!   config-views/KEY/APP/PROFILE  `/config` for components: one directory per set of
//!                         configuration files (a cache of the snapshot's bytes), emptied
//!                         at every start
//! ```
//!
//! Every directory Waygate creates is 0700 and every file 0600, whatever the umask: the
//! database holds env values, the audit log and key hashes.

use crate::model::CodeHash;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of every directory Waygate creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file Waygate creates.
pub const FILE_MODE: u32 = 0o600;

#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

/// A file found under `blobs/` or `artifacts/`: its code hash when its name is one.
#[derive(Debug)]
pub struct CodeFile {
    pub path: PathBuf,
    pub code_hash: Option<CodeHash>,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// Creates the root and its subdirectories (0700) where missing. Returns the existing
    /// ones that are group- or world-accessible: they are reported, not changed (the
    /// operator may have chosen that, e.g. for a backup group).
    pub fn create_dirs(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut loose = Vec::new();
        for d in [self.root.clone(), self.blobs_dir(), self.artifacts_dir(), self.tmp_dir()] {
            match std::fs::metadata(&d) {
                Ok(m) if m.permissions().mode() & 0o077 != 0 => loose.push(d),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_dir_private(&d)?,
                Err(e) => return Err(e),
            }
        }
        Ok(loose)
    }
    /// The files holding secrets-equivalent data, for the startup permission check.
    pub fn sensitive_files(&self) -> [PathBuf; 4] {
        [self.database(), self.admin_token(), self.master_key(), self.aws_credentials()]
    }
    pub fn database(&self) -> PathBuf {
        self.root.join("waygate.db")
    }
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("waygate.lock")
    }
    pub fn admin_token(&self) -> PathBuf {
        self.root.join("admin.token")
    }
    /// The admin's AWS access key pair, as an AWS shared-credentials file (profile
    /// `default`): `AWS_SHARED_CREDENTIALS_FILE=DATA_DIR/aws-credentials aws …`.
    pub fn aws_credentials(&self) -> PathBuf {
        self.root.join("aws-credentials")
    }
    /// Where `waygate up` records the management URL it listens on, for the CLI.
    pub fn admin_url(&self) -> PathBuf {
        self.root.join("admin.url")
    }
    /// Where `waygate up` records the gateway URL it listens on (for scripts and docs).
    pub fn gateway_url(&self) -> PathBuf {
        self.root.join("gateway.url")
    }
    /// Default location of the secrets master key.
    pub fn master_key(&self) -> PathBuf {
        self.root.join("master.key")
    }
    /// `/config` directories materialised for components (a cache, emptied at start).
    pub fn config_views_dir(&self) -> PathBuf {
        self.root.join("config-views")
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs")
    }
    fn artifacts_dir(&self) -> PathBuf {
        self.root.join("artifacts")
    }
    pub fn blob(&self, hash: &CodeHash) -> PathBuf {
        let hex = hash.to_hex();
        self.blobs_dir().join(&hex[..2]).join(format!("{hex}.wasm"))
    }
    pub fn artifact(&self, hash: &CodeHash, fingerprint: &str) -> PathBuf {
        self.artifacts_dir().join(fingerprint).join(format!("{}.cwasm", hash.to_hex()))
    }
    /// True when the directory has no database yet (first start).
    pub fn is_new(&self) -> bool {
        !self.database().exists()
    }

    /// Everything in `tmp/`.
    pub fn tmp_entries(&self) -> std::io::Result<Vec<PathBuf>> {
        entries(&self.tmp_dir())
    }
    /// Every file under `blobs/*/`.
    pub fn blob_files(&self) -> std::io::Result<Vec<CodeFile>> {
        code_files(&self.blobs_dir(), "wasm")
    }
    /// Every file under `artifacts/*/` (all engine fingerprints).
    pub fn artifact_files(&self) -> std::io::Result<Vec<CodeFile>> {
        code_files(&self.artifacts_dir(), "cwasm")
    }
}

/// `create_dir_all` with 0700 for every directory it creates.
pub fn create_dir_private(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Opens `path` for appending, creating it 0600 when missing (an existing file keeps its
/// mode): the lock file, and the database before SQLite opens it (SQLite gives -wal and
/// -shm the database file's mode, and would create it 0644 under the usual umask).
pub fn open_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().append(true).create(true).mode(FILE_MODE).open(path)
}

fn entries(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.map(|e| e.path())).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The files one level below `dir`'s subdirectories, with the code hash their name
/// (`HASH.ext`) carries.
fn code_files(dir: &Path, ext: &str) -> std::io::Result<Vec<CodeFile>> {
    let mut out = Vec::new();
    for sub in entries(dir)? {
        if !sub.is_dir() {
            continue;
        }
        for path in entries(&sub)? {
            let code_hash = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(ext)?.strip_suffix('.'))
                .and_then(|h| CodeHash::parse(h).ok());
            out.push(CodeFile { path, code_hash });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_private_dirs_and_reports_loose_existing_ones() {
        let t = tempfile::tempdir().unwrap();
        let d = DataDir::new(t.path().join("data"));
        assert!(d.create_dirs().unwrap().is_empty());
        for sub in ["", "blobs", "artifacts", "tmp"] {
            let m = std::fs::metadata(d.root().join(sub)).unwrap().permissions().mode();
            assert_eq!(m & 0o777, 0o700, "{sub}");
        }
        std::fs::set_permissions(d.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(d.create_dirs().unwrap(), vec![d.root().to_path_buf()]);
        // Reported, not changed.
        assert_eq!(std::fs::metadata(d.root()).unwrap().permissions().mode() & 0o777, 0o755);
    }

    #[test]
    fn lists_code_files_with_their_hashes() {
        let t = tempfile::tempdir().unwrap();
        let d = DataDir::new(t.path());
        d.create_dirs().unwrap();
        let h = CodeHash::of(b"x");
        for p in [d.blob(&h), d.artifact(&h, "fp1")] {
            create_dir_private(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"x").unwrap();
        }
        std::fs::write(d.blob(&h).with_file_name("stray.txt"), b"").unwrap();
        let mut blobs = d.blob_files().unwrap();
        blobs.sort_by_key(|f| f.code_hash.is_none());
        assert_eq!(blobs.len(), 2);
        assert_eq!(blobs[0].code_hash, Some(h));
        assert_eq!(blobs[1].code_hash, None);
        let arts = d.artifact_files().unwrap();
        assert_eq!((arts.len(), arts[0].code_hash), (1, Some(h)));
    }
}
