//! Pages of every listing: `?limit=N` (1–1000, default 1000) and `?next=TOKEN`, the token
//! a previous page returned as `next` when there was more. A listing is ordered by its
//! key (name, id or number); the token is the last key of the page, opaque to clients
//! (base64url), so a page never repeats or skips an item that stays, whatever was created
//! or deleted since the previous page.

use super::error::ApiError;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const DEFAULT_LIMIT: usize = 1000;
pub const MAX_LIMIT: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    limit: Option<usize>,
    next: Option<String>,
}

/// A validated page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub limit: usize,
    /// The last key of the previous page.
    pub after: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(q) = Query::<PageQuery>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("Invalid query: {}", e.body_text())))?;
        Page::new(q.limit, q.next.as_deref())
    }
}

impl Page {
    pub fn new(limit: Option<usize>, next: Option<&str>) -> Result<Page, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}")));
        }
        let bad = || ApiError::BadRequest("Invalid next token: pass the `next` of the previous page".into());
        let after = match next {
            None => None,
            Some(t) => {
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t).map_err(|_| bad())?;
                Some(String::from_utf8(bytes).map_err(|_| bad())?)
            }
        };
        Ok(Page { limit, after })
    }

    /// `{field: [the page's items], "next": TOKEN}` (`next` only when more follow), from
    /// every item and its key.
    pub fn render<T: Serialize>(&self, field: &str, items: Vec<T>, key: impl Fn(&T) -> String) -> Value {
        let mut keyed: Vec<(String, T)> = items.into_iter().map(|t| (key(&t), t)).collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        let start = match &self.after {
            Some(after) => keyed.partition_point(|(k, _)| k <= after),
            None => 0,
        };
        let more = keyed.len().saturating_sub(start) > self.limit;
        let page: Vec<(String, T)> = keyed.into_iter().skip(start).take(self.limit).collect();
        let next = match (more, page.last()) {
            (true, Some((k, _))) => Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k)),
            _ => None,
        };
        let items: Vec<T> = page.into_iter().map(|(_, t)| t).collect();
        let mut out = json!({ field: items });
        if let Some(n) = next {
            out["next"] = json!(n);
        }
        out
    }
}

/// Numbers as keys that sort as numbers (versions, deployments in order of creation).
pub fn number_key(n: u64) -> String {
    format!("{n:020}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(items: &[&str], limit: usize) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = Page::new(Some(limit), next.as_deref()).unwrap();
            let v = page.render("items", items.to_vec(), |s| s.to_string());
            pages.push(v["items"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect());
            match v.get("next") {
                Some(n) => next = Some(n.as_str().unwrap().to_string()),
                None => return pages,
            }
        }
    }

    #[test]
    fn pages_cover_everything_once_in_key_order() {
        assert_eq!(walk(&["c", "a", "b", "e", "d"], 2), [vec!["a", "b"], vec!["c", "d"], vec!["e"]]);
        assert_eq!(walk(&["a", "b"], 2), [vec!["a", "b"]], "no next when nothing follows");
        assert_eq!(walk(&[], 5), [Vec::<String>::new()]);
        // Resuming after a deleted key goes on from where it would have been.
        let after = Page { limit: 10, after: Some("b".into()) };
        assert_eq!(after.render("x", vec!["a", "c", "d"], |s| s.to_string())["x"], json!(["c", "d"]));
    }

    #[test]
    fn bad_limits_and_tokens_are_refused() {
        for limit in [0, MAX_LIMIT + 1] {
            assert!(Page::new(Some(limit), None).is_err());
        }
        assert!(Page::new(None, Some("!!")).is_err());
        assert_eq!(Page::new(None, None).unwrap().limit, DEFAULT_LIMIT);
        assert!(number_key(9) < number_key(10));
    }
}
