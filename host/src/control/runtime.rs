//! `POST /v1/runtime/evict`: drop loaded code so the next request of each version pays the
//! load again (what `waygate bench --cold` measures).

use super::AppState;
use axum::extract::State;
use axum::Json;
use serde::Serialize;

#[derive(Serialize)]
pub struct Evicted {
    evicted: usize,
}

/// Forgets every loaded template. Costs the next request of each version one load
/// (≈ 0.1 ms), never correctness.
pub async fn evict(State(p): State<AppState>) -> Json<Evicted> {
    let evicted = p.runtime.loader().loaded();
    p.runtime.loader().evict_all();
    Json(Evicted { evicted })
}
