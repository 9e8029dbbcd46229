use crate::fixtures;
use crate::harness::TestServer;
use reqwest::Method;
use serde_json::json;

fn blob_count(s: &TestServer) -> usize {
    walk(&s.data().join("blobs"))
}

fn walk(p: &std::path::Path) -> usize {
    std::fs::read_dir(p)
        .map(|d| d.flatten().map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 }).sum())
        .unwrap_or(0)
}

#[tokio::test]
async fn upload_stores_by_blake3_and_updates_latest() {
    let s = TestServer::start().await;
    s.create("f1", json!({})).await;
    let wasm = wat::parse_str(fixtures::print("one")).unwrap();
    let (st, v) = s.upload("f1", &wasm).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["code_hash"], blake3::hash(&wasm).to_hex().as_str());
    assert_eq!(v["size"], wasm.len());
    let (_, f) = s.call(Method::GET, "/v1/functions/f1", None).await;
    assert_eq!(f["code_hash"], v["code_hash"]);
    assert_eq!(f["code_size"], wasm.len());
    // The blob on disk is named by its hash and holds exactly the bytes.
    let hex = blake3::hash(&wasm).to_hex().to_string();
    let on_disk = std::fs::read(s.data().join("blobs").join(&hex[..2]).join(format!("{hex}.wasm"))).unwrap();
    assert_eq!(on_disk, wasm);
    // Same bytes to another function: stored once.
    s.create("f2", json!({})).await;
    assert_eq!(s.upload("f2", &wasm).await.0, 200);
    assert_eq!(blob_count(&s), 1);
    assert_eq!(s.invoke("f1", "").await.text(), "one");
}

#[tokio::test]
async fn bad_code_is_rejected_with_a_reason_and_nothing_is_stored() {
    let s = TestServer::start().await;
    s.create("f1", json!({})).await;
    let good = wat::parse_str(fixtures::print("x")).unwrap();
    let component = {
        let mut c = b"\0asm".to_vec();
        c.extend_from_slice(&[0x0d, 0x00, 0x01, 0x00]);
        c
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not wasm", b"hello, world".to_vec(), "does not start with the \\0asm magic"),
        ("truncated", good[..good.len() / 2].to_vec(), "Invalid WebAssembly module"),
        (
            "bad import",
            wat::parse_str(fixtures::bad_import()).unwrap(),
            "Unsupported import `env::launch_missiles` (function)",
        ),
        (
            "unknown wasi function",
            wat::parse_str(r#"(module (import "wasi_snapshot_preview1" "launch" (func)) (func (export "_start")))"#)
                .unwrap(),
            "wasi_snapshot_preview1::launch",
        ),
        ("component exporting no world", component, "exports neither of the worlds Waygate runs"),
        ("no _start", wat::parse_str(fixtures::no_start()).unwrap(), "does not export a `_start` function"),
        ("empty", vec![], "Code is empty"),
    ];
    for (what, bytes, msg) in cases {
        let (st, v) = s.upload("f1", &bytes).await;
        assert_eq!(st, 400, "{what}: {v}");
        assert!(v["message"].as_str().unwrap().contains(msg), "{what}: {v}");
    }
    let (st, v) = s
        .req(Method::PUT, "/v1/functions/f1/code")
        .header("content-type", "text/plain")
        .body(good.clone())
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(st, 415, "{:?}", v.text().await);
    let (st, v) = s.upload("nope", &good).await;
    assert_eq!(st, 404, "{v}");
    let (_, f) = s.call(Method::GET, "/v1/functions/f1", None).await;
    assert_eq!(f["code_hash"], serde_json::Value::Null, "nothing stored: {f}");
    assert_eq!(blob_count(&s), 0);
    // The media type is parsed: a lookalike is refused, parameters are fine.
    for (ct, want) in [("application/wasmx", 415), ("application/wasm+x", 415), ("application/wasm; foo=bar", 200)] {
        let r = s.req(Method::PUT, "/v1/functions/f1/code").header("content-type", ct).body(good.clone()).send().await;
        assert_eq!(r.map(|r| r.status().as_u16()).ok(), Some(want), "{ct}");
    }
    assert_eq!(blob_count(&s), 1, "only the last, accepted upload");
}

#[tokio::test]
async fn upload_limit_is_enforced_while_streaming() {
    let s = TestServer::start_with(|c| c.max_upload_bytes = 64 * 1024).await;
    s.create("f1", json!({})).await;
    // Declared too large: refused before reading.
    let (st, v) = s.upload("f1", &vec![0u8; 64 * 1024 + 1]).await;
    assert_eq!(st, 413, "{v}");
    assert!(v["message"].as_str().unwrap().contains("upload limit of 65536 bytes"), "{v}");
    // Chunked, no length: refused once the limit is passed, without buffering the rest
    // (the stream would go on for 1 GiB).
    let chunks = futures_stream(16 * 1024, 65536);
    let r = s
        .req(Method::PUT, "/v1/functions/f1/code")
        .header("content-type", "application/wasm")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    match r {
        Ok(r) => assert_eq!(r.status(), 413),
        // The server may close the connection as soon as it has answered.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    assert_eq!(s.upload("f1", &wat::parse_str(fixtures::print("small")).unwrap()).await.0, 200);
}

fn futures_stream(chunk: usize, count: usize) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let mut n = 0;
    futures_util::stream::poll_fn(move |_| {
        n += 1;
        std::task::Poll::Ready((n <= count).then(|| Ok(vec![0u8; chunk])))
    })
}
