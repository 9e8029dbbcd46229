//! [`CodeStore`] on SQLite: blob and artifact rows.

use super::rows::conv;
use super::SqliteTx;
use crate::model::{CodeHash, GuestKind};
use crate::store::{now_rfc3339, ArtifactRecord, CodeStore, StoreResult};
use rusqlite::params;

impl CodeStore for SqliteTx<'_> {
    fn record_code(&self, artifact: &ArtifactRecord, size: u64) -> StoreResult<()> {
        self.execute(
            "INSERT OR IGNORE INTO blobs (code_hash, size, created_at) VALUES (?1, ?2, ?3)",
            params![artifact.code_hash.to_hex(), size as i64, now_rfc3339()],
        )?;
        self.add_artifact(artifact)
    }

    fn add_artifact(&self, a: &ArtifactRecord) -> StoreResult<()> {
        self.execute(
            "INSERT OR REPLACE INTO artifacts (code_hash, fingerprint, artifact_hash, size, kind) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![a.code_hash.to_hex(), a.fingerprint, a.artifact_hash, a.size as i64, a.kind.as_str()],
        )?;
        Ok(())
    }

    fn artifacts(&self, fingerprint: &str) -> StoreResult<Vec<ArtifactRecord>> {
        let mut stmt = self.prepare(
            "SELECT code_hash, fingerprint, artifact_hash, size, kind FROM artifacts WHERE fingerprint = ?1",
        )?;
        let rows = stmt
            .query_map([fingerprint], |r| {
                Ok(ArtifactRecord {
                    code_hash: conv(CodeHash::parse(&r.get::<_, String>(0)?))?,
                    fingerprint: r.get(1)?,
                    artifact_hash: r.get(2)?,
                    size: r.get::<_, i64>(3)? as u64,
                    kind: conv(GuestKind::parse(&r.get::<_, String>(4)?))?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn blobs(&self) -> StoreResult<Vec<(CodeHash, u64)>> {
        let mut stmt = self.prepare("SELECT code_hash, size FROM blobs ORDER BY code_hash")?;
        let rows = stmt
            .query_map([], |r| Ok((conv(CodeHash::parse(&r.get::<_, String>(0)?))?, r.get::<_, i64>(1)? as u64)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
