//! Starts a real Waygate server on 127.0.0.1:0 with a temporary data directory.

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use waygate::platform::PlatformConfig;
use waygate::server::Server;

pub struct TestServer {
    server: Option<Server>,
    /// The management API.
    pub url: String,
    /// The gateway listener (stages' invoke URLs: `{gateway}/{api-id}/{stage}/...`).
    pub gateway: String,
    pub token: String,
    pub dir: tempfile::TempDir,
    http: reqwest::Client,
}

/// A small pool keeps each test server's address-space reservation modest. Development
/// workers keep normal priority: tests run side by side, and another test's compile must
/// not starve this one's `$LATEST` invocations into timeouts (`isolation.rs` turns the
/// lowering back on with [`isolated`]).
/// With `WAYGATE_TEST_STORE=postgres`, on the shared store: a schema of the test database
/// named after the data directory (a restart finds its state again), dropped when the
/// [`TestServer`] is.
/// Items in a listing's page when `limit` is not given.
pub const DEFAULT_PAGE: usize = 1000;

pub fn test_config(dir: &Path) -> PlatformConfig {
    let mut c = PlatformConfig::new(dir);
    c.runtime.max_instances = 16;
    c.runtime.lower_development_priority = false;
    if std::env::var("WAYGATE_TEST_STORE").as_deref() == Ok("postgres") {
        let base = crate::cluster::database().expect("WAYGATE_TEST_STORE=postgres needs WAYGATE_TEST_POSTGRES");
        c.store = Some(crate::cluster::schema_url(&base, &crate::cluster::schema_of(dir)));
    }
    c
}

/// The production setting: development workers at the lowest priority.
pub fn isolated(c: &mut PlatformConfig) {
    c.runtime.lower_development_priority = true;
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut PlatformConfig)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(dir.path());
        tweak(&mut config);
        Self::boot(dir, config).await
    }

    pub async fn boot(dir: tempfile::TempDir, config: PlatformConfig) -> Self {
        let any = "127.0.0.1:0".parse().unwrap();
        let server = Server::start(config, any, any).await.expect("server starts");
        let token = std::fs::read_to_string(dir.path().join("admin.token")).expect("token file");
        TestServer {
            url: server.admin_url(),
            gateway: server.gateway_url(),
            token,
            server: Some(server),
            dir,
            http: reqwest::Client::new(),
        }
    }

    /// Stops the server and starts a new one on the same data directory.
    pub async fn restart(mut self) -> Self {
        self.stop().await;
        let config = test_config(self.dir.path());
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        Self::boot(dir, config).await
    }

    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }

    /// Waits (≤ 30 s) for the background integrity check the last start began, and
    /// returns what `GET /v1/runtime` says of it.
    pub async fn integrity_checked(&self) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let (status, v) = self.call(Method::GET, "/v1/runtime", None).await;
            assert_eq!(status, 200, "{v}");
            if v["code"]["integrity"]["done"] == true {
                return v["code"]["integrity"].clone();
            }
            assert!(std::time::Instant::now() < deadline, "integrity check not done in 30 s: {v}");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    pub fn platform(&self) -> std::sync::Arc<waygate::platform::Platform> {
        self.server.as_ref().expect("server running").platform.clone()
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.url)).bearer_auth(&self.token)
    }

    /// A request to the gateway listener (no management token).
    pub fn gw(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.gateway))
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.req(method, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        json_of(r.send().await.expect("request")).await
    }

    pub async fn create(&self, name: &str, extra: Value) -> Value {
        let mut body = json!({ "name": name });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let (status, v) = self.call(Method::POST, "/v1/functions", Some(body)).await;
        assert_eq!(status, 201, "create {name}: {v}");
        v
    }

    pub async fn upload(&self, name: &str, wasm: &[u8]) -> (u16, Value) {
        let r = self
            .req(Method::PUT, &format!("/v1/functions/{name}/code"))
            .header("content-type", "application/wasm")
            .body(wasm.to_vec());
        json_of(r.send().await.expect("upload")).await
    }

    /// Creates a function and uploads `wat` as its code.
    pub async fn deploy(&self, name: &str, extra: Value, wat: &str) -> Value {
        self.create(name, extra).await;
        let (status, v) = self.upload(name, &wat::parse_str(wat).expect("fixture WAT parses")).await;
        assert_eq!(status, 200, "upload {name}: {v}");
        v
    }

    pub async fn publish(&self, name: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, &format!("/v1/functions/{name}/versions"), Some(body)).await
    }

    pub async fn invoke(&self, target: &str, payload: impl Into<reqwest::Body>) -> Invoked {
        let (name, q) = target.split_once(':').map(|(n, q)| (n, Some(q))).unwrap_or((target, None));
        let mut r = self.req(Method::POST, &format!("/v1/functions/{name}/invoke")).body(payload);
        if let Some(q) = q {
            r = r.query(&[("qualifier", q)]);
        }
        Invoked::from(r.send().await.expect("invoke")).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.platform.runtime.loader().evict_all();
        }
        if std::env::var("WAYGATE_TEST_STORE").as_deref() == Ok("postgres") {
            crate::cluster::drop_schema(&crate::cluster::schema_of(self.dir.path()));
        }
    }
}

pub async fn json_of(r: Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    let v = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    (status, v)
}

pub struct Invoked {
    pub status: u16,
    pub body: Vec<u8>,
    pub version: String,
    pub request_id: String,
    pub function_error: Option<String>,
    pub server_timing: String,
}

impl Invoked {
    async fn from(r: Response) -> Self {
        let h = |k: &str| r.headers().get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (version, request_id, function_error, server_timing) = (
            h("x-waygate-executed-version").unwrap_or_default(),
            h("x-waygate-request-id").unwrap_or_default(),
            h("x-waygate-function-error"),
            h("server-timing").unwrap_or_default(),
        );
        let status = r.status().as_u16();
        let body = r.bytes().await.expect("body").to_vec();
        Invoked { status, body, version, request_id, function_error, server_timing }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// Asserts a function error of `error_type` and returns its message.
    pub fn expect_error(&self, error_type: &str) -> String {
        assert_eq!(self.status, 200, "{}", self.text());
        assert_eq!(self.function_error.as_deref(), Some("Unhandled"), "{}", self.text());
        let v = self.json();
        assert_eq!(v["errorType"], error_type, "{v}");
        v["errorMessage"].as_str().unwrap_or_default().to_string()
    }

    /// A `server-timing` entry in milliseconds.
    pub fn timing(&self, name: &str) -> Option<f64> {
        self.server_timing.split(", ").find_map(|e| {
            let (n, d) = e.split_once(";dur=")?;
            (n == name).then(|| d.parse().ok()).flatten()
        })
    }
}

/// Runs the `waygate` binary against `s` as a user would: endpoint and data dir (for the
/// token file) from the environment, no `WAYGATE_TOKEN`.
pub fn waygate(s: &TestServer, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_waygate"))
        .args(args)
        .env("WAYGATE_ENDPOINT", &s.url)
        .env("WAYGATE_DATA_DIR", s.data())
        .env_remove("WAYGATE_TOKEN")
        .output()
        .expect("run waygate")
}

/// The stdout of a command that must have succeeded.
pub fn ok(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Sends `request` as raw bytes (for what an HTTP client library would refuse or
/// normalise: dot segments, broken chunk framing, odd header bytes) and reads the answer
/// until the server closes (send `Connection: close`). Returns status, headers and body.
pub async fn raw_http(url: &str, request: &[u8]) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut c = tokio::net::TcpStream::connect(addr).await.expect("connect");
    c.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(30), c.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the server did not close the connection");
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// The real `waygate up` binary as a separate process on `data_dir` (ports picked by the
/// OS, read back from its "Waygate is up" log line), for what an in-process server can't
/// show: a SIGKILL at any moment, the files a fresh start creates under umask 022.
/// Started with `--development-priority normal`, for the reason [`test_config`] gives: in
/// the idle class, a `$LATEST` invocation timed out behind other tests' CPU work in CI.
pub struct Spawned {
    /// Behind a lock so that `kill` works while other threads still send requests.
    child: std::sync::Mutex<std::process::Child>,
    pub url: String,
    pub token: String,
    http: reqwest::blocking::Client,
}

impl Spawned {
    /// Its output (stdout and the log on stderr) is appended to `log`.
    pub fn start(data_dir: &Path, log: &Path) -> Self {
        Self::start_with(data_dir, log, &[])
    }

    /// [`Spawned::start`] with more arguments for `waygate up`.
    pub fn start_with(data_dir: &Path, log: &Path, extra: &[&str]) -> Self {
        Self::spawn(data_dir, log, extra, false)
    }

    /// [`Spawned::start`] with the bundled examples registered, as a user's first
    /// `waygate up` does (the docs' walk-throughs use them).
    pub fn start_with_examples(data_dir: &Path, log: &Path) -> Self {
        Self::spawn(data_dir, log, &[], true)
    }

    fn spawn(data_dir: &Path, log: &Path, extra: &[&str], examples: bool) -> Self {
        use std::io::{BufRead, Write};
        let open_log = || std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
        let (stdout, mut out) = (open_log(), open_log());
        // umask 022 as on a typical login: what the data directory's modes must not depend on.
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("umask 022 && exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_waygate"))
            .args(["up", "--admin-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0"])
            .args(if examples {
                &["--max-instances", "16", "--development-priority", "normal"][..]
            } else {
                &["--no-examples", "--max-instances", "16", "--development-priority", "normal"][..]
            })
            .args(extra)
            .arg("--data-dir")
            .arg(data_dir)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .env_remove("WAYGATE_MASTER_KEY")
            .env_remove("WAYGATE_MASTER_KEY_FILE")
            .env_remove("WAYGATE_DATA_DIR")
            .stdout(stdout)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn waygate up");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        // Keeps draining the log after the address is known: a full pipe would block the server.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(out, "{line}");
                if line.contains("Waygate is up") || line.contains("bundled examples registered") {
                    let _ = tx.send(line);
                }
            }
        });
        let line = match rx.recv_timeout(std::time::Duration::from_secs(120)) {
            Ok(l) => l,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("waygate up did not come up ({e}): {}", std::fs::read_to_string(log).unwrap_or_default());
            }
        };
        // With examples, the server is ready once they are registered (they are what the
        // caller will use): the line after "Waygate is up".
        if examples {
            if let Err(e) = rx.recv_timeout(std::time::Duration::from_secs(300)) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the examples were not registered ({e}): {}", std::fs::read_to_string(log).unwrap_or_default());
            }
        }
        // `admin=URL` in a text log line, `"admin":"URL"` in a JSON one.
        let url = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("admin="))
            .map(str::to_string)
            .or_else(|| {
                let v: serde_json::Value = serde_json::from_str(&line).ok()?;
                v["fields"]["admin"].as_str().map(str::to_string)
            })
            .unwrap_or_else(|| panic!("no admin address in {line:?}"));
        let token = std::fs::read_to_string(data_dir.join("admin.token")).expect("token file").trim().to_string();
        Spawned { child: std::sync::Mutex::new(child), url, token, http: reqwest::blocking::Client::new() }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn req(&self, method: Method, path: &str) -> reqwest::blocking::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .timeout(std::time::Duration::from_secs(60))
    }

    /// Status and JSON body; `Err` when the server did not answer (killed).
    pub fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<(u16, Value), reqwest::Error> {
        let mut r = self.req(method, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send()?;
        let status = resp.status().as_u16();
        let text = resp.text()?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    pub fn upload(&self, name: &str, wasm: &[u8]) -> Result<(u16, Value), reqwest::Error> {
        let resp = self
            .req(Method::PUT, &format!("/v1/functions/{name}/code"))
            .header("content-type", "application/wasm")
            .body(wasm.to_vec())
            .send()?;
        let status = resp.status().as_u16();
        let text = resp.text()?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.kill();
    }
}
