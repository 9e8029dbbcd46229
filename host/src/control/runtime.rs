//! `GET /v1/runtime`: the instance pool (its warm slots too), the loaded code (bytes,
//! modules, loads, evictions, idle unloads) and what each priority class and stage uses
//! of the pool. `POST /v1/runtime/evict`: drop loaded code so the next request of each version
//! pays the load again (what `waygate bench --cold` measures).

use super::AppState;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

/// The pool (size, in use, development's share), the epoch tick, loaded code, and usage
/// per class and per stage ([`crate::live::usage`]).
pub async fn get(State(p): State<AppState>) -> Json<Value> {
    let rt = &p.runtime;
    let (in_use, development_in_use) = rt.instances_in_use();
    let warm = rt.warm_slots();
    let mut v = p.live.usage.view();
    if let Value::Object(m) = &mut v {
        m.insert(
            "pool".into(),
            json!({
                "max_instances": rt.config().max_instances,
                "in_use": in_use,
                "development_share": rt.development_share(),
                "development_in_use": development_in_use,
                "development_priority": if rt.config().lower_development_priority { "lowest" } else { "normal" },
                "pooling": rt.is_pooling(),
                "loaded_modules": rt.loader().loaded(),
                "warm_slots": warm.unused_warm_slots,
                "warm_slots_resident_bytes": warm.resident_bytes,
                "max_warm_slots": rt.config().warm_slots,
            }),
        );
        let mut code = json!(rt.loader().stats());
        code["integrity"] = p.integrity.view();
        m.insert("code".into(), code);
        m.insert("epoch_tick_ms".into(), json!(rt.config().epoch_tick.as_secs_f64() * 1000.0));
    }
    Json(v)
}

#[derive(Serialize)]
pub struct Evicted {
    evicted: usize,
}

/// Forgets every loaded template. Costs the next request of each version one load
/// (≈ 0.1 ms), never correctness.
pub async fn evict(State(p): State<AppState>) -> Json<Evicted> {
    Json(Evicted { evicted: p.runtime.loader().evict_all() })
}
