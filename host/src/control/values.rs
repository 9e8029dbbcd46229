//! Environment values: `PUT /v1/environments/{environment}/values/{name}` `{"value"}`,
//! `GET /v1/environments/{environment}/values` (names and values), `DELETE`.

use super::body::JsonBody;
use super::error::ApiResult;
use super::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutValue {
    value: String,
}

#[derive(Serialize)]
pub struct ValueView {
    environment: String,
    name: String,
    value: String,
    created_at: String,
    updated_at: String,
}

impl From<crate::store::ValueRecord> for ValueView {
    fn from(v: crate::store::ValueRecord) -> Self {
        ValueView {
            environment: v.environment,
            name: v.name,
            value: v.value,
            created_at: v.created_at,
            updated_at: v.updated_at,
        }
    }
}

pub async fn put(
    State(p): State<AppState>,
    Path((environment, name)): Path<(String, String)>,
    JsonBody(req): JsonBody<PutValue>,
) -> ApiResult<(StatusCode, Json<ValueView>)> {
    let (rec, created) = crate::ops::values::put(&p, environment, name, req.value).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(rec.into())))
}

pub async fn list(
    State(p): State<AppState>,
    Path(environment): Path<String>,
    page: super::paging::Page,
) -> ApiResult<Json<Value>> {
    let values: Vec<ValueView> = crate::ops::values::list(&p, environment).await?.into_iter().map(Into::into).collect();
    Ok(Json(page.render("values", values, |v| v.name.clone())))
}

pub async fn delete(
    State(p): State<AppState>,
    Path((environment, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    crate::ops::values::delete(&p, environment, name).await?;
    Ok(StatusCode::NO_CONTENT)
}
