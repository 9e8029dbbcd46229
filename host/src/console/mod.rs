//! The web console: static files served on the admin listener under `/console/`, built
//! into the binary (`include_str!`: no CDN, no build step, nothing fetched at run time).
//! The page is a client of the public management API and nothing else — it holds the
//! caller's token in the tab's `sessionStorage` and sends it as `Authorization: Bearer`,
//! so a key's policy limits the console exactly as it limits curl. No route here reads
//! platform state, so the files need no token; they are the same for everyone.
//!
//! Why plain files and no front-end build: four pages of tables, forms and a few SVG
//! charts are a few hundred lines of DOM code; a framework and a bundler would add a
//! toolchain to CI and an output to keep in sync, for nothing the pages need.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// `(name, content type, body)` of every file.
const FILES: &[(&str, &str, &str)] = &[
    ("index.html", "text/html; charset=utf-8", include_str!("assets/index.html")),
    ("console.js", "text/javascript; charset=utf-8", include_str!("assets/console.js")),
    ("console.css", "text/css; charset=utf-8", include_str!("assets/console.css")),
];

/// Scripts, styles and requests only from this origin; no framing (clickjacking), no
/// inline script (a value from the API that reached the DOM as HTML still could not run).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// `/console` (redirected to `/console/`), `/console/` and its files.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/console", get(|| async { Redirect::permanent("/console/") }))
        .route("/console/", get(|| async { file("index.html") }))
        .route(
            "/console/{file}",
            get(|axum::extract::Path(name): axum::extract::Path<String>| async move { file(&name) }),
        )
}

fn file(name: &str) -> Response {
    let Some((_, content_type, body)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return crate::control::error::ApiError::NotFound(format!("No console file '{name}'")).into_response();
    };
    (
        StatusCode::OK,
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // Revalidated on every load: an upgraded server's console is picked up at once.
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (HeaderName::from_static("content-security-policy"), HeaderValue::from_static(CSP)),
            (HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff")),
            (HeaderName::from_static("referrer-policy"), HeaderValue::from_static("no-referrer")),
        ],
        *body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_reference_only_each_other() {
        let html = FILES[0].2;
        assert!(html.contains("src=\"console.js\"") && html.contains("href=\"console.css\""));
        for (name, _, body) in FILES {
            // Offline: nothing from another origin (the SVG namespace is a name, not a fetch).
            let body = body.replace("http://www.w3.org/2000/svg", "");
            assert!(!body.contains("http://") && !body.contains("https://"), "{name} names another origin");
            // The CSP forbids inline script and style: the files must not need them.
            if name.ends_with(".html") {
                assert!(!body.contains("<script>") && !body.contains("style="), "{name} has inline script or style");
            }
        }
    }
}
