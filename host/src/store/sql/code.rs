//! [`CodeStore`] in SQL (both engines): blob and artifact rows.

use super::conv;
use super::{args, Dialect, Row, SqlTx};
use crate::model::{CodeHash, GuestKind};
use crate::store::{now_rfc3339, ArtifactRecord, CodeStore, StoreResult};

impl CodeStore for SqlTx<'_> {
    fn record_code(&self, artifact: &ArtifactRecord, wasm: &[u8]) -> StoreResult<()> {
        let hash = artifact.code_hash.to_hex();
        self.execute(
            "INSERT INTO blobs (code_hash, size, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            args![hash, wasm.len(), now_rfc3339()],
        )?;
        if self.dialect() == Dialect::Postgres {
            self.execute(
                "INSERT INTO blob_bytes (code_hash, bytes) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                args![hash, wasm],
            )?;
        }
        self.add_artifact(artifact)
    }

    fn blob_bytes(&self, hash: &CodeHash) -> StoreResult<Option<Vec<u8>>> {
        match self.dialect() {
            Dialect::Sqlite => Ok(None),
            // Moved out of the row, not copied: a blob may be 50 MB.
            Dialect::Postgres => {
                self.query_bytes("SELECT bytes FROM blob_bytes WHERE code_hash = ?1", args![hash.to_hex()])
            }
        }
    }

    fn add_artifact(&self, a: &ArtifactRecord) -> StoreResult<()> {
        self.execute(
            "INSERT INTO artifacts (code_hash, fingerprint, artifact_hash, size, kind) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (code_hash, fingerprint) DO UPDATE SET artifact_hash = excluded.artifact_hash, \
             size = excluded.size, kind = excluded.kind",
            args![a.code_hash.to_hex(), a.fingerprint, a.artifact_hash, a.size as i64, a.kind.as_str()],
        )?;
        Ok(())
    }

    fn artifacts(&self, fingerprint: &str) -> StoreResult<Vec<ArtifactRecord>> {
        self.query_map(
            "SELECT code_hash, fingerprint, artifact_hash, size, kind FROM artifacts WHERE fingerprint = ?1",
            args![fingerprint],
            artifact_row,
        )
    }

    fn find_artifact(&self, hash: &CodeHash, fingerprint: &str) -> StoreResult<Option<ArtifactRecord>> {
        self.query_opt(
            "SELECT code_hash, fingerprint, artifact_hash, size, kind FROM artifacts \
             WHERE fingerprint = ?1 AND code_hash = ?2",
            args![fingerprint, hash.to_hex()],
            artifact_row,
        )
    }

    fn blobs(&self) -> StoreResult<Vec<(CodeHash, u64)>> {
        let rows = self.query_map("SELECT code_hash, size FROM blobs ORDER BY code_hash", &[], |r| {
            Ok((conv(CodeHash::parse(&r.get::<String>(0)?))?, r.get::<i64>(1)? as u64))
        })?;
        Ok(rows)
    }
}

fn artifact_row(r: &Row) -> StoreResult<ArtifactRecord> {
    Ok(ArtifactRecord {
        code_hash: conv(CodeHash::parse(&r.get::<String>(0)?))?,
        fingerprint: r.get(1)?,
        artifact_hash: r.get(2)?,
        size: r.get::<i64>(3)? as u64,
        kind: conv(GuestKind::parse(&r.get::<String>(4)?))?,
    })
}
