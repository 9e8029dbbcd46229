//! REST APIs, their draft routes, deployments (immutable route snapshots) and stages:
//! records and the [`ApiStore`] trait. Stage rules (a canary pins the stage's deployment,
//! variables' limits, promotion) are in `ops::stages`.

use super::StoreResult;
use crate::model::api::{ApiId, Integration, Method, RoutePath, StageName};
use crate::model::stage::{CacheSettings, CanarySettings, CapacitySettings, ThrottleSettings};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct ApiRecord {
    pub id: ApiId,
    pub name: String,
    pub description: String,
    pub created_at: String,
}

/// Also the storage form of a deployment's frozen routes (JSON in `deployments.routes`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RouteRecord {
    pub id: String,
    pub method: Method,
    pub path: RoutePath,
    pub integration: Integration,
    pub created_at: String,
    pub updated_at: String,
}

/// An immutable snapshot of an API's routes.
#[derive(Debug, Clone)]
pub struct DeploymentRecord {
    pub api_id: ApiId,
    pub id: String,
    pub description: String,
    pub routes: Vec<RouteRecord>,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub struct StageRecord {
    pub api_id: ApiId,
    pub name: StageName,
    pub deployment_id: String,
    pub variables: BTreeMap<String, String>,
    pub description: String,
    pub canary: Option<CanarySettings>,
    pub cache: CacheSettings,
    pub throttle: ThrottleSettings,
    /// Priority class and stage concurrency limit.
    pub capacity: CapacitySettings,
    /// blake3 (hex) of the stage's cache-invalidation key; the key itself is never stored.
    pub invalidation_key_hash: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Whose secrets its functions see; `None`: the environment named like the stage.
    pub secret_environment: Option<String>,
}

/// Everything the gateway needs, for building the routing snapshot: every stage with the
/// deployment it serves.
#[derive(Default)]
pub struct GatewayState {
    pub stages: Vec<StageRecord>,
    pub deployments: Vec<DeploymentRecord>,
    pub permissions: Vec<super::PermissionRecord>,
}

/// APIs, routes, deployments and stages, inside one transaction ([`super::Tx`]).
pub trait ApiStore {
    fn insert_api(&self, api: &ApiRecord) -> StoreResult<()>;
    fn find_api(&self, id: &ApiId) -> StoreResult<Option<ApiRecord>>;
    fn list_apis(&self) -> StoreResult<Vec<ApiRecord>>;
    /// Deletes the API with its routes, deployments and stages.
    fn delete_api(&self, id: &ApiId) -> StoreResult<bool>;

    /// The draft's routes, by path then method.
    fn list_routes(&self, api: &ApiId) -> StoreResult<Vec<RouteRecord>>;
    fn find_route(&self, api: &ApiId, id: &str) -> StoreResult<Option<RouteRecord>>;
    /// Creates or replaces the route row (by id).
    fn write_route(&self, api: &ApiId, route: &RouteRecord) -> StoreResult<()>;
    fn delete_route(&self, api: &ApiId, id: &str) -> StoreResult<bool>;

    /// The draft's declared resources and methods without an integration yet (API
    /// Gateway's CreateResource and PutMethod, before PutIntegration makes a route):
    /// `(path, None)` a resource, `(path, Some(method))` a method.
    fn list_declared(&self, api: &ApiId) -> StoreResult<Vec<(String, Option<Method>)>>;
    fn declare(&self, api: &ApiId, path: &str, method: Option<Method>) -> StoreResult<()>;
    /// Removes the declarations at `path` and below it.
    fn delete_declared_under(&self, api: &ApiId, path: &str) -> StoreResult<()>;

    fn insert_deployment(&self, d: &DeploymentRecord) -> StoreResult<()>;
    fn find_deployment(&self, api: &ApiId, id: &str) -> StoreResult<Option<DeploymentRecord>>;
    fn list_deployments(&self, api: &ApiId) -> StoreResult<Vec<DeploymentRecord>>;
    /// Names of the stages that serve `deployment`, as their deployment or their canary's.
    fn stages_using(&self, api: &ApiId, deployment: &str) -> StoreResult<Vec<String>>;
    fn delete_deployment(&self, api: &ApiId, id: &str) -> StoreResult<bool>;

    fn find_stage(&self, api: &ApiId, name: &StageName) -> StoreResult<Option<StageRecord>>;
    fn list_stages(&self, api: &ApiId) -> StoreResult<Vec<StageRecord>>;
    /// Creates or replaces every column of the stage; `updated_at` is stamped here.
    fn write_stage(&self, stage: &StageRecord) -> StoreResult<()>;
    fn delete_stage(&self, api: &ApiId, name: &StageName) -> StoreResult<bool>;

    /// Every stage, the deployments they serve, and every resource-policy statement.
    fn load_gateway(&self) -> StoreResult<GatewayState>;
    /// [`Self::load_gateway`] for the stages of `apis` (every policy statement still).
    fn load_gateway_apis(&self, apis: &std::collections::BTreeSet<String>) -> StoreResult<GatewayState>;
}
