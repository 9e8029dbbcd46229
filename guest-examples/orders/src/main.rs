//! orders: the study guide's "ProcessOrder". Reports which version/alias/stage processed
//! the order and reads per-environment settings: env vars (`ORDERS_ENV`, `ORDERS_TABLE`)
//! frozen in the version, and the configuration profile `orders/flags` deployed to the
//! invoking environment (`/config/orders/flags`, e.g. `{"discount_percent": 10}`), which
//! changes without publishing a version. The flag `checkout_v2: true` makes every order
//! fail (an unfinished code path behind a flag), for the rollback walk-through.
//!
//! - A body `{"order_id": "...", "items": [{"sku": "...", "qty": N}]}` is processed: 200.
//! - GET (or an empty body): 200 with a summary and no order.
//! - Any other method with a body that is not an order: 400 `{"message": ...}`.

use serde::Deserialize;
use serde_json::json;
use waygate_sdk::{config, env, run, Invocation, Request, Response};

#[derive(Deserialize)]
struct Order {
    order_id: String,
    #[serde(default)]
    items: Vec<Item>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Item {
    sku: String,
    qty: u32,
}

fn main() {
    run(|req: Request| {
        let inv = Invocation::current();
        let processed_by = json!({
            "function": inv.function,
            "version": inv.version,
            "alias": inv.alias,
            "stage": inv.stage,
        });
        let environment = env("ORDERS_ENV").unwrap_or_else(|| "unset".into());
        let table = env("ORDERS_TABLE").unwrap_or_else(|| "orders".into());
        // The flags as deployed here; content that is not JSON is shown as text.
        let flags = config("orders/flags")
            .map(|text| serde_json::from_str::<serde_json::Value>(&text).unwrap_or(json!(text)))
            .unwrap_or(serde_json::Value::Null);
        match req.json::<Order>() {
            Some(order) => {
                eprintln!("processing order {} ({} items)", order.order_id, order.items.len());
                // A feature flag whose code path is not ready: turning it on breaks every
                // order (what a deployment monitor is there to catch).
                if flags["checkout_v2"] == json!(true) {
                    panic!("checkout_v2 is not implemented yet (order {})", order.order_id);
                }
                Response::json(
                    200,
                    &json!({
                        "message": "Order processed",
                        "order_id": order.order_id,
                        "item_count": order.items.len(),
                        "processed_by": processed_by,
                        "environment": environment,
                        "table": table,
                        "flags": flags,
                    }),
                )
            }
            None if req.method() == "GET" || req.body().trim().is_empty() => Response::json(
                200,
                &json!({
                    "message": "Orders service: POST an order {\"order_id\": \"A1\", \"items\": [{\"sku\": \"x\", \"qty\": 1}]}",
                    "processed_by": processed_by,
                    "environment": environment,
                    "table": table,
                    "flags": flags,
                }),
            ),
            None => Response::json(400, &json!({ "message": "Invalid order: expected {\"order_id\": string, \"items\": [{\"sku\": string, \"qty\": number}]}" })),
        }
    });
}
