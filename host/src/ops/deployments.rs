//! Deployments: immutable snapshots of an API's draft routes. Deploying with a stage
//! name points that stage at the new snapshot (creating the stage if needed), or with a
//! canary makes it that existing stage's canary deployment.

use super::apis::{api, check_target_exists, list_routes_in};
use super::stages::{patch_in, put_in, validate_canary_patch, PutStage, StagePatch};
use super::{found, Error, Kind, Platform, Result};
use crate::model::api::{random_id, ApiId, StageName};
use crate::model::stage::CanaryPatch;
use crate::store::{now_rfc3339, DeploymentRecord, StageRecord, Tx};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Deployments' descriptions: at most this many characters (API Gateway's limit).
pub const MAX_DESCRIPTION_CHARS: usize = 1024;

#[derive(Default)]
pub struct Deploy {
    pub description: String,
    pub stage: Option<StageName>,
    /// With `stage`: deploy as that stage's canary (the stage keeps its deployment).
    pub canary: Option<CanaryPatch>,
    /// With `stage` (and no canary): variables set on the stage with the deployment
    /// (API Gateway's CreateDeployment `variables`).
    pub variables: BTreeMap<String, String>,
    /// With `stage`: the description a stage created by this deployment gets.
    pub stage_description: Option<String>,
}

/// The deployment, or `NotFound` (for the API first).
pub fn deployment(tx: &dyn Tx, id: &ApiId, deployment: &str) -> Result<DeploymentRecord> {
    api(tx, id)?;
    found(tx.find_deployment(id, deployment)?, Kind::Deployment, deployment)
}

pub async fn create(p: &Arc<Platform>, id: ApiId, input: Deploy) -> Result<(DeploymentRecord, Option<StageRecord>)> {
    p.commit(move |tx| create_in(tx, &id, input)).await
}

/// [`create`] inside a caller's transaction (a batch of changes, one commit).
pub fn create_in(tx: &dyn Tx, id: &ApiId, input: Deploy) -> Result<(DeploymentRecord, Option<StageRecord>)> {
    super::check_description(&input.description, MAX_DESCRIPTION_CHARS)?;
    crate::model::validate_text("description", &input.description)?;
    {
        let id = id.clone();
        let routes = list_routes_in(tx, &id)?;
        // A route whose literal target's function was deleted since the route was put
        // can't be deployed.
        for r in &routes {
            check_target_exists(tx, &r.integration)
                .map_err(|e| Error::Invalid(format!("Route {} {}: {e}", r.method.as_str(), r.path.as_str())))?;
        }
        if let Some(c) = &input.canary {
            if c.deployment_id.is_some() {
                return Err(Error::Invalid("canary.deployment_id is the new deployment: leave it out".into()));
            }
            validate_canary_patch(c)?;
        }
        if routes.is_empty() {
            return Err(Error::Invalid("The REST API doesn't contain any methods".into()));
        }
        if let Some(m) = super::resources::unintegrated(tx, &id)?.first() {
            return Err(Error::Invalid(format!("No integration defined for method {m}")));
        }
        if input.canary.is_some() && !input.variables.is_empty() {
            return Err(Error::Invalid(
                "variables go to the stage, not to a canary deployment: use the canary's stage variable overrides"
                    .into(),
            ));
        }
        let d = DeploymentRecord {
            api_id: id.clone(),
            id: random_id(8),
            description: input.description,
            routes,
            created_at: now_rfc3339(),
        };
        tx.insert_deployment(&d)?;
        let stage = match (input.stage, input.canary) {
            (None, Some(_)) => return Err(Error::Invalid("A canary deployment needs a stage".into())),
            (None, None) => None,
            // As API Gateway: the stage keeps its deployment, the new one becomes its canary.
            (Some(name), Some(c)) => {
                if tx.find_stage(&id, &name)?.is_none() {
                    return Err(Error::not_found(Kind::CanaryStage, name.as_str()));
                }
                let canary = CanaryPatch { deployment_id: Some(d.id.clone()), ..c };
                Some(patch_in(tx, &id, &name, &StagePatch { canary: Some(canary), ..StagePatch::default() })?)
            }
            (Some(name), None) => Some(match tx.find_stage(&id, &name)? {
                Some(_) => patch_in(
                    tx,
                    &id,
                    &name,
                    &StagePatch {
                        deployment_id: Some(d.id.clone()),
                        variables: input.variables.into_iter().map(|(k, v)| (k, Some(v))).collect(),
                        ..StagePatch::default()
                    },
                )?,
                None => {
                    let put = PutStage {
                        deployment_id: d.id.clone(),
                        variables: input.variables,
                        description: input.stage_description.unwrap_or_default(),
                        secret_environment: None,
                    };
                    put_in(tx, &id, &name, put)?.0
                }
            }),
        };
        Ok((d, stage))
    }
}

pub async fn list(p: &Arc<Platform>, id: ApiId) -> Result<Vec<DeploymentRecord>> {
    p.read(move |tx| {
        api(tx, &id)?;
        tx.list_deployments(&id)
    })
    .await
}

pub async fn get(p: &Arc<Platform>, id: ApiId, deployment_id: String) -> Result<DeploymentRecord> {
    p.read(move |tx| deployment(tx, &id, &deployment_id)).await
}

/// Deletes a deployment no stage (or stage canary) serves.
pub async fn delete(p: &Arc<Platform>, id: ApiId, deployment_id: String) -> Result<()> {
    p.commit(move |tx| {
        deployment(tx, &id, &deployment_id)?;
        let users = tx.stages_using(&id, &deployment_id)?;
        if !users.is_empty() {
            return Err(Error::Conflict(format!(
                "Active stages pointing to this deployment must be moved or deleted (stages: {})",
                users.join(", ")
            )));
        }
        tx.delete_deployment(&id, &deployment_id)?;
        Ok(())
    })
    .await
}
