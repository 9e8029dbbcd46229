//! probe-http: a wasi:http proxy component that answers what it got — method, path and
//! query, headers (Waygate's `x-waygate-*` context among them), body, environment — or
//! misbehaves when the path asks, as the `fail` example does for modules:
//!
//! | path | does |
//! |---|---|
//! | `/status/N` | answers status N with an empty body |
//! | `/big?bytes=N` | a body of N bytes (`x`) |
//! | `/log?bytes=N` | writes N bytes to stderr, then answers |
//! | `/panic` | panics (a trap) before answering |
//! | `/loop` | spins forever |
//! | `/alloc` | allocates until it fails |
//! | `/no-response` | returns without setting a response |
//! | `/recurse` | recurses until the stack overflows |
//! | `/connect?port=N` | tries a TCP connection to 127.0.0.1:N and answers how it went |
//! | `/sleep?ms=N` | waits N ms on the clock (a host wait, no wasm running), then answers |
//! | `/read?path=P` | reads file P (e.g. `/config/shop/flags`): 200 with it, or 404 with the error |
//! | `/write?path=P` | tries to overwrite file P: 200, or 403 with the error |
//! | anything else | the echo |

use serde_json::{json, Map, Value};
use std::io::Write;
use wasip2::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

wasip2::http::proxy::export!(Probe);

struct Probe;

/// A TCP connection to 127.0.0.1:`port` through wasi:sockets (Debian's wasi-libc has no
/// sockets for std::net): "connected", or the step that failed and why.
fn connect(port: u16) -> String {
    use wasip2::sockets::network::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
    let network = wasip2::sockets::instance_network::instance_network();
    let socket = match wasip2::sockets::tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4) {
        Ok(s) => s,
        Err(e) => return format!("refused: create-tcp-socket: {e:?}"),
    };
    let addr = IpSocketAddress::Ipv4(Ipv4SocketAddress { port, address: (127, 0, 0, 1) });
    if let Err(e) = socket.start_connect(&network, addr) {
        return format!("refused: start-connect: {e:?}");
    }
    socket.subscribe().block();
    match socket.finish_connect() {
        Ok(_) => "connected".into(),
        Err(e) => format!("refused: finish-connect: {e:?}"),
    }
}

#[allow(unconditional_recursion)] // the point: it ends when the stack does
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 64]);
    recurse(depth + 1).wrapping_add(frame[7])
}

fn param(query: &str, key: &str) -> Option<usize> {
    query.split('&').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// A query parameter as text (no percent-decoding: the probe's paths need none).
fn text_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')).map(str::to_string)
}

fn answer(out: ResponseOutparam, status: u16, content_type: &str, body: &[u8]) {
    let headers = Fields::new();
    let _ = headers.set("content-type", &[content_type.as_bytes().to_vec()]);
    let _ = headers.set("x-probe", &[b"1".to_vec()]);
    let resp = OutgoingResponse::new(headers);
    let _ = resp.set_status_code(status);
    let Ok(outgoing) = resp.body() else { return };
    ResponseOutparam::set(out, Ok(resp));
    if let Ok(stream) = outgoing.write() {
        // blocking_write_and_flush takes at most 4096 bytes per call.
        for chunk in body.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                return;
            }
        }
        drop(stream);
    }
    let _ = OutgoingBody::finish(outgoing, None);
}

impl wasip2::exports::http::incoming_handler::Guest for Probe {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let target = request.path_with_query().unwrap_or_default();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        match path {
            p if p.starts_with("/status/") => {
                let status = p["/status/".len()..].parse().unwrap_or(500);
                return answer(out, status, "text/plain", b"");
            }
            "/big" => return answer(out, 200, "text/plain", &vec![b'x'; param(query, "bytes").unwrap_or(0)]),
            "/log" => {
                let _ = std::io::stderr().write_all(&vec![b'l'; param(query, "bytes").unwrap_or(0)]);
            }
            "/panic" => panic!("probe asked to panic"),
            "/loop" => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "/alloc" => {
                let mut held: Vec<Vec<u8>> = Vec::new();
                loop {
                    held.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&held);
                }
            }
            "/no-response" => return,
            "/sleep" => {
                let ms = param(query, "ms").unwrap_or(0) as u64;
                wasip2::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
                return answer(out, 200, "text/plain", b"slept");
            }
            "/recurse" => return answer(out, 200, "text/plain", recurse(0).to_string().as_bytes()),
            // `/config` through WASI 0.2's filesystem, as any component reads a file.
            "/read" => {
                let file = text_param(query, "path").unwrap_or_default();
                return match std::fs::read(&file) {
                    Ok(bytes) => answer(out, 200, "text/plain", &bytes),
                    Err(e) => answer(out, 404, "text/plain", e.to_string().as_bytes()),
                };
            }
            "/write" => {
                let file = text_param(query, "path").unwrap_or_default();
                return match std::fs::write(&file, b"overwritten") {
                    Ok(()) => answer(out, 200, "text/plain", b"written"),
                    Err(e) => answer(out, 403, "text/plain", e.to_string().as_bytes()),
                };
            }
            "/connect" => {
                let port = param(query, "port").unwrap_or(0) as u16;
                let how = connect(port);
                return answer(out, 200, "text/plain", how.as_bytes());
            }
            _ => {}
        }
        let mut headers = Map::new();
        for (k, v) in request.headers().entries() {
            headers.insert(k, Value::from(String::from_utf8_lossy(&v).into_owned()));
        }
        let mut body = Vec::new();
        if let Ok(incoming) = request.consume() {
            if let Ok(stream) = incoming.stream() {
                while let Ok(chunk) = stream.blocking_read(65536) {
                    body.extend_from_slice(&chunk);
                }
            }
        }
        let env: Map<String, Value> = std::env::vars().map(|(k, v)| (k, Value::from(v))).collect();
        use wasip2::http::types::Method;
        let method = match request.method() {
            Method::Get => "GET".to_string(),
            Method::Head => "HEAD".into(),
            Method::Post => "POST".into(),
            Method::Put => "PUT".into(),
            Method::Delete => "DELETE".into(),
            Method::Connect => "CONNECT".into(),
            Method::Options => "OPTIONS".into(),
            Method::Trace => "TRACE".into(),
            Method::Patch => "PATCH".into(),
            Method::Other(m) => m,
        };
        let echo = json!({
            "method": method,
            "path": path,
            "query": query,
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
            "env": env,
        });
        answer(out, 200, "application/json", echo.to_string().as_bytes());
    }
}
