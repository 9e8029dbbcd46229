//! Request-body extractors whose rejections are `ApiError`s, so a malformed body gets the
//! same `{"message"}` shape as every other error.

use super::error::ApiError;
use crate::body_limit::BodyError;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

/// JSON body; an empty body is rejected.
pub struct JsonBody<T>(pub T);

/// JSON body where an empty body means `T::default()` (e.g. publish with no options).
pub struct OptionalJson<T>(pub T);

const MAX_JSON_BYTES: usize = 1024 * 1024;

async fn read_json_bytes(req: Request) -> Result<Bytes, ApiError> {
    if let Some(ct) = req.headers().get(axum::http::header::CONTENT_TYPE) {
        check_json_media_type(ct.as_bytes())?;
    }
    read_limited(req.into_body(), MAX_JSON_BYTES, "Request body").await
}

/// The media types a JSON body may be labelled with: `application/json`, and
/// `application/x-www-form-urlencoded` because `curl -d` labels every body so and the
/// README's one-liners work without `-H content-type:...`. The header is parsed as a media
/// type (parameters such as `charset` allowed) and its essence compared exactly: a
/// prefix match would let `application/jsonpatch+garbage` through, and a header that
/// isn't a media type at all is refused rather than read as absent.
pub fn check_json_media_type(raw: &[u8]) -> Result<(), ApiError> {
    check_media_type(Some(raw), &["application/json", "application/x-www-form-urlencoded"])
}

/// `raw` (a `Content-Type` value; `None`: absent) parsed as a media type whose essence is
/// exactly one of `allowed` (the first is the one named in the error).
pub fn check_media_type(raw: Option<&[u8]>, allowed: &[&str]) -> Result<(), ApiError> {
    let shown = raw.map_or_else(|| "(none)".into(), String::from_utf8_lossy);
    let refused = || {
        ApiError::UnsupportedMediaType(format!(
            "Content-Type must be {}, got {}",
            allowed.first().copied().unwrap_or("?"),
            shown.chars().take(100).collect::<String>()
        ))
    };
    let parsed: mime::Mime =
        raw.and_then(|r| std::str::from_utf8(r).ok()).and_then(|s| s.parse().ok()).ok_or_else(refused)?;
    if allowed.contains(&parsed.essence_str()) {
        Ok(())
    } else {
        Err(refused())
    }
}

/// Reads a body, failing as soon as it passes `limit` bytes (before buffering the rest);
/// `what` names it in the messages ([`crate::body_limit::read_limited`] as `ApiError`s).
pub async fn read_limited(body: Body, limit: usize, what: &str) -> Result<Bytes, ApiError> {
    crate::body_limit::read_limited(body, limit).await.map_err(|e| match e {
        BodyError::TooLarge => ApiError::PayloadTooLarge(format!("{what} must be smaller than {limit} bytes")),
        BodyError::TimedOut => {
            ApiError::RequestTimeout(format!("{what} body timed out: the client stopped sending it"))
        }
        BodyError::Read(e) => ApiError::BadRequest(format!("could not read the request body: {e}")),
    })
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(format!("Invalid JSON body: {e}")))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let bytes = read_json_bytes(req).await?;
        if bytes.is_empty() {
            return Err(ApiError::BadRequest("Request body is empty: a JSON object is required".into()));
        }
        parse(&bytes).map(JsonBody)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let bytes = read_json_bytes(req).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse(&bytes).map(OptionalJson)
    }
}

#[cfg(test)]
mod tests {
    use super::check_json_media_type;

    #[test]
    fn json_media_types_are_parsed_and_compared_exactly() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/x-www-form-urlencoded",
        ] {
            assert!(check_json_media_type(ok.as_bytes()).is_ok(), "{ok}");
        }
        for bad in [
            &b"text/plain\xff"[..],
            b"application/jsonpatch+garbage",
            b"application/json-seq",
            b"",
            b"json",
            b"text/plain",
            b"application/jsonx; charset=utf-8",
        ] {
            assert!(check_json_media_type(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
