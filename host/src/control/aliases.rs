//! Aliases: named, movable pointers to a version, optionally weighted between two.

use super::body::JsonBody;
use super::error::ApiResult;
use super::AppState;
use crate::model::{AliasName, AliasTarget, FunctionName};
use crate::ops;
use crate::store::AliasRecord;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutAlias {
    version: String,
    routing: Option<BTreeMap<String, f64>>,
    expected_revision: Option<String>,
    description: Option<String>,
}

#[derive(Serialize)]
pub struct AliasView {
    function: FunctionName,
    name: AliasName,
    version: String,
    /// `{"4": 0.1}`: 10 % of traffic to version 4; `{}` when not weighted.
    routing: BTreeMap<String, f64>,
    description: String,
    revision_id: String,
    created_at: String,
    updated_at: String,
}

impl AliasView {
    /// The record, with the weight a gradual shift in progress gives its new version now
    /// (as CodeDeploy moves `AdditionalVersionWeights` while it shifts).
    pub fn new(p: &AppState, a: AliasRecord) -> Self {
        let shift = p.snapshot().functions.get(&a.function).and_then(|f| {
            let alias = f.aliases.get(a.name.as_str())?;
            (alias.primary == a.version)
                .then(|| crate::invoke::alias::shift_weight(alias, crate::configuration::now_ms()))
                .flatten()
        });
        let mut view = AliasView::from(a);
        if let Some((to, weight)) = shift.filter(|(_, w)| *w < 1.0) {
            view.routing = BTreeMap::from([(to.to_string(), weight)]);
        }
        view
    }
}

impl AliasView {
    /// `{"4": 0.1}`, or empty when not weighted.
    pub fn routing(&self) -> &BTreeMap<String, f64> {
        &self.routing
    }
}

impl From<AliasRecord> for AliasView {
    fn from(a: AliasRecord) -> Self {
        AliasView {
            function: a.function,
            name: a.name,
            version: a.version.to_string(),
            routing: a.routing.map(|r| (r.version.to_string(), r.weight)).into_iter().collect(),
            description: a.description,
            revision_id: a.revision_id,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

fn names(name: &str, alias: &str) -> ApiResult<(FunctionName, AliasName)> {
    Ok((FunctionName::parse(name)?, AliasName::parse(alias)?))
}

pub async fn put(
    State(p): State<AppState>,
    Path((name, alias)): Path<(String, String)>,
    JsonBody(req): JsonBody<PutAlias>,
) -> ApiResult<(StatusCode, Json<AliasView>)> {
    let (name, alias) = names(&name, &alias)?;
    let input = ops::aliases::PutAlias {
        target: AliasTarget::parse(&req.version, req.routing.as_ref())?,
        description: req.description,
        expected_revision: req.expected_revision,
        exists: None,
    };
    let (rec, created) = ops::aliases::put(&p, name, alias, input).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(rec.into())))
}

pub async fn get(State(p): State<AppState>, Path((name, alias)): Path<(String, String)>) -> ApiResult<Json<AliasView>> {
    let (name, alias) = names(&name, &alias)?;
    Ok(Json(AliasView::new(&p, ops::aliases::get(&p, name, alias).await?)))
}

pub async fn list(
    State(p): State<AppState>,
    Path(name): Path<String>,
    page: super::paging::Page,
) -> ApiResult<Json<serde_json::Value>> {
    let name = FunctionName::parse(&name)?;
    let aliases: Vec<AliasView> =
        ops::aliases::list(&p, name).await?.into_iter().map(|a| AliasView::new(&p, a)).collect();
    Ok(Json(page.render("aliases", aliases, |a| a.name.to_string())))
}

pub async fn delete(State(p): State<AppState>, Path((name, alias)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let (name, alias) = names(&name, &alias)?;
    ops::aliases::delete(&p, name, alias).await?;
    Ok(StatusCode::NO_CONTENT)
}
