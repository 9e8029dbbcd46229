use crate::fixtures;
use crate::harness::TestServer;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn restart_keeps_everything() {
    let s = TestServer::start().await;
    let up = s.deploy("f1", json!({ "env": { "COLOR": "blue" } }), &fixtures::print("v1")).await;
    s.publish("f1", json!({})).await;
    s.call(Method::PUT, "/v1/functions/f1/aliases/STABLE", Some(json!({ "version": "1" }))).await;
    s.upload("f1", &wat::parse_str(fixtures::print("draft")).unwrap()).await;
    let token = s.token.clone();

    let s = s.restart().await;
    assert_eq!(s.token, token, "the admin token survives restarts");
    let inv = s.invoke("f1:STABLE", "").await;
    assert_eq!((inv.text().as_str(), inv.version.as_str()), ("v1", "1"));
    assert!(inv.timing("load").is_some(), "first call after restart loads the artifact");
    assert_eq!(s.invoke("f1", "").await.text(), "draft");
    let (_, v) = s.call(Method::GET, "/v1/functions/f1/versions/1", None).await;
    assert_eq!(v["code_hash"], up["code_hash"]);
    let (st, v) = s.publish("f1", json!({})).await;
    assert_eq!((st, v["version"].as_str()), (201, Some("2")));
}

fn artifact_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for fp in std::fs::read_dir(dir.join("artifacts")).unwrap().flatten() {
        for f in std::fs::read_dir(fp.path()).unwrap().flatten() {
            out.push(f.path());
        }
    }
    out
}

#[tokio::test]
async fn a_tampered_artifact_refuses_to_run() {
    let s = TestServer::start().await;
    s.deploy("f1", json!({}), &fixtures::print("v1")).await;
    s.deploy("other", json!({}), &fixtures::print("fine")).await;
    let s = s.restart().await;
    let files = artifact_files(&s.data());
    assert_eq!(files.len(), 2);
    // Flip one byte in f1's artifact (identify it by its code hash in the file name).
    let (_, f) = s.call(Method::GET, "/v1/functions/f1", None).await;
    let hash = f["code_hash"].as_str().unwrap();
    let target = files.iter().find(|p| p.to_string_lossy().contains(hash)).unwrap();
    let mut bytes = std::fs::read(target).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(target, bytes).unwrap();

    let inv = s.invoke("f1", "").await;
    assert_eq!(inv.status, 502, "{}", inv.text());
    let v = inv.json();
    assert_eq!(v["type"], "CodeIntegrityException");
    assert!(v["message"].as_str().unwrap().contains("is corrupt on disk"), "{v}");
    assert_eq!(s.invoke("other", "").await.text(), "fine", "other code is unaffected");
}

#[tokio::test]
async fn a_tampered_blob_is_detected_at_startup() {
    let s = TestServer::start().await;
    let up = s.deploy("f1", json!({}), &fixtures::print("v1")).await;
    let hash = up["code_hash"].as_str().unwrap().to_string();
    let mut s = s;
    s.stop().await;
    let blob = s.data().join("blobs").join(&hash[..2]).join(format!("{hash}.wasm"));
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&blob, bytes).unwrap();
    let s = s.restart().await;
    let inv = s.invoke("f1", "").await;
    assert_eq!(inv.status, 502, "{}", inv.text());
    assert!(inv.json()["message"].as_str().unwrap().contains("failed its integrity check"), "{}", inv.text());
}
