//! `GET /v1/functions/{name}/logs?qualifier=&since=&limit=&after=`: a function's recent log
//! events from the in-memory ring buffer ([`crate::observe::logs`]).

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::model::{FunctionName, Qualifier, VersionId};
use crate::observe::logs::{LogEvent, LogQuery, MAX_LIMIT};
use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde::Serialize;

/// Events returned when `limit` is not given.
const DEFAULT_LIMIT: usize = 100;

#[derive(Serialize)]
pub struct LogsView {
    events: Vec<LogEvent>,
    /// Pass as `after` to get only newer events (the `--follow` cursor).
    next_after: u64,
}

pub async fn get(
    State(p): State<AppState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<LogsView>> {
    let name = FunctionName::parse(&name)?;
    let q = parse_query(raw.as_deref().unwrap_or(""))?;
    if !p.snapshot().functions.contains_key(name.as_str()) {
        return Err(crate::model::error::Error::function_not_found(&name, None).into());
    }
    let events = p.observe.logs.query(&name, &q);
    let next_after = events.last().map(|e| e.seq).or(q.after).unwrap_or(0);
    Ok(Json(LogsView { events, next_after }))
}

fn parse_query(raw: &str) -> ApiResult<LogQuery> {
    let mut q = LogQuery { limit: DEFAULT_LIMIT, ..LogQuery::default() };
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        match &*k {
            "qualifier" => match Qualifier::parse(Some(&v))? {
                Qualifier::Version(VersionId::Latest) if v.is_empty() => {}
                Qualifier::Version(ver) => q.version = Some(ver.to_string()),
                Qualifier::Alias(a) => q.alias = Some(a.to_string()),
            },
            "since" => q.since = Some(parse_since(&v)?),
            "after" => {
                q.after = Some(v.parse().map_err(|_| {
                    ApiError::BadRequest(format!("Invalid after '{v}': expected the next_after of a previous reply"))
                })?)
            }
            "limit" => {
                q.limit =
                    v.parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
                        ApiError::BadRequest(format!("Invalid limit '{v}': expected 1 to {MAX_LIMIT}"))
                    })?
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unknown query parameter '{other}': expected qualifier, since, after or limit"
                )))
            }
        }
    }
    Ok(q)
}

/// Unix time in milliseconds, or an RFC 3339 timestamp.
fn parse_since(v: &str) -> ApiResult<i64> {
    if let Ok(ms) = v.parse::<i64>() {
        if ms >= 0 {
            return Ok(ms);
        }
    }
    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "Invalid since '{v}': expected Unix time in milliseconds or an RFC 3339 timestamp"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_validated() {
        let q = parse_query("qualifier=live&limit=5&since=1700000000000&after=9").unwrap();
        assert_eq!(
            (q.alias.as_deref(), q.limit, q.since, q.after),
            (Some("live"), 5, Some(1_700_000_000_000), Some(9))
        );
        assert_eq!(parse_query("qualifier=3").unwrap().version.as_deref(), Some("3"));
        assert_eq!(parse_query("qualifier=%24LATEST").unwrap().version.as_deref(), Some("$LATEST"));
        assert_eq!(parse_query("since=2026-01-01T00:00:00Z").unwrap().since, Some(1_767_225_600_000));
        for bad in ["limit=0", "limit=x", "limit=10001", "since=yesterday", "after=-1", "qualifier=a%20b", "foo=1"] {
            assert!(parse_query(bad).is_err(), "{bad}");
        }
    }
}
