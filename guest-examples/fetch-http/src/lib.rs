//! Calls another HTTP service and answers what came back: for `GET /?url=URL[&n=N]` it
//! makes N (default 1) GET requests to URL through `wasi:http/outgoing-handler` and
//! answers `{"status", "body", "calls"}` from the last one (200), or
//! `{"error", "calls"}` (502) with the host's error code when a call was refused or
//! failed — which is how a function sees Waygate's outbound allow-list at work.
//! When URL is absent it calls `$PAYMENTS_URL` (an environment variable: configuration).

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse, ResponseOutparam, Scheme,
};

wasip2::http::proxy::export!(Fetch);

struct Fetch;

fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.replace("%3A", ":").replace("%2F", "/"))
    })
}

/// `http[s]://authority/path?query` into the request's parts.
fn split_url(url: &str) -> Option<(Scheme, String, String)> {
    let (scheme, rest) = if let Some(r) = url.strip_prefix("https://") {
        (Scheme::Https, r)
    } else {
        (Scheme::Http, url.strip_prefix("http://")?)
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Some((scheme, authority.to_string(), path.to_string()))
}

/// One GET: Ok((status, body)) or Err(the host's error, as text).
fn get(url: &str) -> Result<(u16, String), String> {
    let (scheme, authority, path) = split_url(url).ok_or_else(|| format!("not an http(s) URL: {url}"))?;
    let req = OutgoingRequest::new(Fields::new());
    let _ = req.set_method(&Method::Get);
    let _ = req.set_scheme(Some(&scheme));
    let _ = req.set_authority(Some(&authority));
    let _ = req.set_path_with_query(Some(&path));
    let body = req.body().map_err(|_| "request body".to_string())?;
    OutgoingBody::finish(body, None).map_err(|e| format!("{e:?}"))?;
    let future = outgoing_handler::handle(req, None).map_err(|e| format!("{e:?}"))?;
    future.subscribe().block();
    let resp = match future.get() {
        Some(Ok(Ok(r))) => r,
        Some(Ok(Err(e))) => return Err(format!("{e:?}")),
        _ => return Err("no response".into()),
    };
    let status = resp.status();
    let incoming = resp.consume().map_err(|_| "response body".to_string())?;
    let stream = incoming.stream().map_err(|_| "response stream".to_string())?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(wasip2::io::streams::StreamError::Closed) => break,
            Err(e) => return Err(format!("reading the response: {e:?}")),
        }
    }
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

impl wasip2::exports::http::incoming_handler::Guest for Fetch {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let pq = request.path_with_query().unwrap_or_default();
        let query = pq.split_once('?').map_or("", |(_, q)| q);
        let url = query_param(query, "url")
            .or_else(|| wasip2::cli::environment::get_environment().into_iter().find_map(|(k, v)| (k == "PAYMENTS_URL").then_some(v)))
            .unwrap_or_default();
        let n: usize = query_param(query, "n").and_then(|n| n.parse().ok()).unwrap_or(1);
        let mut answer = (502u16, serde_json::json!({ "error": "no call made", "calls": 0 }));
        for i in 1..=n {
            match get(&url) {
                Ok((status, body)) => answer = (200, serde_json::json!({ "status": status, "body": body, "calls": i })),
                Err(error) => {
                    eprintln!("outbound call {i} to {url} failed: {error}");
                    answer = (502, serde_json::json!({ "error": error, "calls": i }));
                    break;
                }
            }
        }
        let headers = Fields::new();
        let _ = headers.set("content-type", &[b"application/json".to_vec()]);
        let resp = OutgoingResponse::new(headers);
        let _ = resp.set_status_code(answer.0);
        let Ok(outgoing) = resp.body() else { return };
        ResponseOutparam::set(out, Ok(resp));
        if let Ok(stream) = outgoing.write() {
            // blocking-write-and-flush takes at most 4096 bytes a call.
            for chunk in answer.1.to_string().as_bytes().chunks(4096) {
                let _ = stream.blocking_write_and_flush(chunk);
            }
        }
        let _ = OutgoingBody::finish(outgoing, None);
    }
}
