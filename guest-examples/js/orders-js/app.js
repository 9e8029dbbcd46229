// orders-js: the study guide's "ProcessOrder" in JavaScript (the Rust `orders` example's
// twin), a Waygate handler component. Reports which version/alias/stage processed the
// order and reads per-environment settings (ORDERS_ENV, ORDERS_TABLE).
//
// - A body {"order_id": "...", "items": [{"sku": "...", "qty": N}]} is processed: 200.
// - GET (or an empty body): 200 with a summary and no order.
// - Any other method with a body that is not an order: 400 {"message": ...}.
import { getEnvironment } from 'wasi:cli/environment@0.2.3';

function respond(statusCode, body) {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

function isOrder(o) {
  return typeof o?.order_id === 'string' &&
    (o.items === undefined || (Array.isArray(o.items) &&
      o.items.every((i) => typeof i?.sku === 'string' && Number.isInteger(i?.qty) && i.qty >= 0)));
}

// As a Lambda handler: the event (a proxy event through a route, the order itself from a
// direct invoke) and the context; returns the answer.
function processOrder(event, context) {
  const env = Object.fromEntries(getEnvironment());
  const proxied = event.httpMethod !== undefined;
  const processed_by = {
    function: context.functionName,
    version: context.functionVersion,
    alias: env.WAYGATE_ALIAS ?? null,
    stage: env.WAYGATE_STAGE ?? null,
    runtime: 'javascript',
  };
  const environment = env.ORDERS_ENV ?? 'unset';
  const table = env.ORDERS_TABLE ?? 'orders';
  let order = proxied ? null : event;
  if (proxied && event.body) {
    try { order = JSON.parse(event.body); } catch { order = null; }
  }
  const answer = (status, body) => (proxied ? respond(status, body) : body);
  if (isOrder(order)) {
    const items = order.items ?? [];
    console.error(`processing order ${order.order_id} (${items.length} items)`);
    return answer(200, {
      message: 'Order processed', order_id: order.order_id, item_count: items.length,
      processed_by, environment, table,
    });
  }
  if (!proxied || event.httpMethod === 'GET' || !(event.body ?? '').trim()) {
    return answer(200, {
      message: 'Orders service: POST an order {"order_id": "A1", "items": [{"sku": "x", "qty": 1}]}',
      processed_by, environment, table,
    });
  }
  return answer(400, { message: 'Invalid order: expected {"order_id": string, "items": [{"sku": string, "qty": number}]}' });
}

// The glue between the WIT world and `processOrder`: JSON text in, JSON text out; a thrown
// error becomes the invocation's error (a WIT `err` is a string).
export function handler(event, context) {
  try {
    return JSON.stringify(processOrder(JSON.parse(event), context));
  } catch (e) {
    throw `${e?.name ?? 'Error'}: ${e?.message ?? e}`;
  }
}
