//! A small blocking client for the management API, used by the CLI subcommands.

use anyhow::{anyhow, Context};
use reqwest::blocking::{Client as Http, RequestBuilder, Response};
use reqwest::Method;
use serde_json::Value;

pub struct Client {
    http: Http,
    endpoint: String,
    token: String,
}

/// A reply that is not a success: carries the server's `message`.
#[derive(Debug, thiserror::Error)]
#[error("{message} (HTTP {status})")]
pub struct ServerError {
    pub status: u16,
    pub message: String,
}

impl Client {
    pub fn new(endpoint: &str, token: String) -> anyhow::Result<Self> {
        let http = Http::builder().timeout(std::time::Duration::from_secs(960)).build()?;
        Ok(Client { http, endpoint: endpoint.trim_end_matches('/').to_string(), token })
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.endpoint)).bearer_auth(&self.token)
    }

    /// Sends and turns a non-2xx reply into a [`ServerError`].
    pub fn send(&self, req: RequestBuilder) -> anyhow::Result<Response> {
        let resp = req.send().with_context(|| format!("cannot reach Waygate at {}", self.endpoint))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or(text);
        Err(ServerError { status, message }.into())
    }

    pub fn json(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        self.json_status(method, path, body).map(|(_, v)| v)
    }

    /// Every page of a listing (`GET path`, following `next`): `{field: [all items]}`.
    pub fn list_all(&self, path: &str, field: &str) -> anyhow::Result<Value> {
        let mut items = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = match &next {
                Some(n) => format!("{path}{sep}next={n}"),
                None => path.to_string(),
            };
            let mut page = self.json(Method::GET, &url, None)?;
            if let Some(Value::Array(a)) = page.get_mut(field).map(Value::take) {
                items.extend(a);
            }
            match page.get("next").and_then(Value::as_str) {
                Some(n) => next = Some(n.to_string()),
                None => break,
            }
        }
        Ok(serde_json::json!({ field: items }))
    }

    /// [`Client::json`] with the success status, for PUTs that answer 201 when they create
    /// and 200 when they replace.
    pub fn json_status(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<(u16, Value)> {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = self.send(req)?;
        let status = resp.status().as_u16();
        if resp.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok((status, Value::Null));
        }
        resp.json().map(|v| (status, v)).map_err(|e| anyhow!("invalid JSON from server: {e}"))
    }
}
