//! Stage lookup: the gateway part of the routing snapshot. Each stage carries the
//! deployment it serves (routes + their matcher, shared between stages of the same
//! deployment) and its integrations already resolved against its variables.

use super::integration::{group_policies, resolve, ResolvedIntegration};
use super::route::RouteTable;
use crate::store::{GatewayState, RouteRecord};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub struct DeploymentSnapshot {
    pub id: String,
    pub routes: Vec<RouteRecord>,
    pub table: RouteTable,
}

pub struct StageSnapshot {
    pub api_id: String,
    pub name: String,
    pub deployment: Arc<DeploymentSnapshot>,
    pub variables: BTreeMap<String, String>,
    /// `event.stageVariables`, serialised once (`null` when there are none).
    pub variables_json: Arc<serde_json::value::RawValue>,
    /// The environment whose secrets this stage's functions see.
    pub secret_environment: String,
    /// One per route of the deployment, same order.
    pub integrations: Vec<ResolvedIntegration>,
}

#[derive(Default)]
pub struct GatewaySnapshot {
    apis: HashMap<String, HashMap<String, Arc<StageSnapshot>>>,
}

impl GatewaySnapshot {
    pub fn stage(&self, api: &str, stage: &str) -> Option<&Arc<StageSnapshot>> {
        self.apis.get(api)?.get(stage)
    }

    pub fn build(state: &GatewayState) -> Self {
        let policies = group_policies(&state.permissions);
        let deployments: HashMap<(&str, &str), Arc<DeploymentSnapshot>> = state
            .deployments
            .iter()
            .map(|d| {
                let snap = DeploymentSnapshot {
                    id: d.id.clone(),
                    table: RouteTable::build(&d.routes),
                    routes: d.routes.clone(),
                };
                ((d.api_id.as_str(), d.id.as_str()), Arc::new(snap))
            })
            .collect();
        let mut apis: HashMap<String, HashMap<String, Arc<StageSnapshot>>> = HashMap::new();
        for s in &state.stages {
            let Some(deployment) = deployments.get(&(s.api_id.as_str(), s.deployment_id.as_str())) else {
                continue; // unreachable: stages reference deployments by foreign key
            };
            let integrations = deployment
                .routes
                .iter()
                .map(|r| resolve(s.api_id.as_str(), s.name.as_str(), r, &s.variables, &policies))
                .collect();
            let shown = (!s.variables.is_empty()).then_some(&s.variables);
            let Ok(variables_json) = serde_json::value::to_raw_value(&shown) else {
                continue; // unreachable: a map of strings always serialises
            };
            let snap = StageSnapshot {
                api_id: s.api_id.to_string(),
                name: s.name.to_string(),
                deployment: deployment.clone(),
                variables: s.variables.clone(),
                secret_environment: s.secret_environment.clone().unwrap_or_else(|| s.name.to_string()),
                variables_json: Arc::from(variables_json),
                integrations,
            };
            apis.entry(s.api_id.to_string()).or_default().insert(s.name.to_string(), Arc::new(snap));
        }
        GatewaySnapshot { apis }
    }
}
