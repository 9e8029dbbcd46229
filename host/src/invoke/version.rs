//! A version id → the frozen code and configuration it runs.

use crate::model::VersionId;
use crate::snapshot::{FunctionSnapshot, VersionSnapshot};
use std::sync::Arc;

pub fn lookup(f: &FunctionSnapshot, id: VersionId) -> Option<Arc<VersionSnapshot>> {
    match id {
        VersionId::Latest => f.latest.clone(),
        VersionId::Number(n) => f.versions.get(&n).cloned(),
    }
}
