//! hello as a wasi:http proxy: the same work as guest-examples/hello (read `name` from the
//! query string, answer `{"message","greeting_from","version"}` as JSON with serde_json),
//! so `bench/compare.sh` compares the platforms, not the guests.

use wasip2::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

wasip2::http::proxy::export!(Hello);

struct Hello;

impl wasip2::exports::http::incoming_handler::Guest for Hello {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let query = request.path_with_query().unwrap_or_default();
        let who = query
            .split_once('?')
            .and_then(|(_, q)| q.split('&').find_map(|kv| kv.strip_prefix("name=")))
            .unwrap_or("world")
            .to_string();
        let body = serde_json::json!({
            "message": format!("Hello, {who}!"),
            "greeting_from": "Waygate",
            "version": "1",
        })
        .to_string();
        let headers = Fields::new();
        let _ = headers.set("content-type", &[b"application/json".to_vec()]);
        let resp = OutgoingResponse::new(headers);
        let Ok(outgoing) = resp.body() else { return };
        ResponseOutparam::set(out, Ok(resp));
        if let Ok(stream) = outgoing.write() {
            let _ = stream.blocking_write_and_flush(body.as_bytes());
        }
        let _ = OutgoingBody::finish(outgoing, None);
    }
}
