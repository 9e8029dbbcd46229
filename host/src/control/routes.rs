//! THE route table of the management API: every route's method, axum path pattern, handler
//! and access rule, declared together. [`super::app`] builds the router from it
//! ([`router`]) and the authorize middleware finds a request's rule in it ([`find`], by
//! `MatchedPath` and method), so a route can't exist without a rule, nor a rule without a
//! route. Collections are checked on `TYPE/*` (a pattern in a policy matches that text like
//! any other: `function/*` does, `function/app` does not).
//!
//! Fields that need a permission of their own wherever they appear (`secret_environment`,
//! `deployment_id`, `canary`, `?environment=`) are deliberately not here but in
//! [`super::access::FIELD_RULES`], which applies to every route and method alike.

use super::access::{rule, Refine, Rule};
use super::alias_shifts;
use super::aws::{apigateway, lambda};
use super::{
    aliases, apis, appconfig, audit, canary, cluster, code, concurrency, deployments, functions, invoke, keys, logs,
};
use super::{
    metrics, permissions, runtime, secrets, stage_cache, stage_metrics, stages, stats, values, versions, AppState,
};
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;

/// Registers a handler for the method it is given (`axum::routing::on`).
pub type Handler = fn(MethodFilter) -> MethodRouter<AppState>;

/// One management route.
pub struct Route {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: &'static str,
    /// The axum route pattern, full (with `/v1`): what `MatchedPath` reports.
    pub path: &'static str,
    pub handler: Handler,
    /// The handler's path as written in the table (`functions::create`): the operation's
    /// id in the OpenAPI document.
    pub handler_name: &'static str,
    /// Who may call it: the action and resource a key's policy must allow.
    pub rule: Rule,
}

impl Route {
    fn method_filter(&self) -> MethodFilter {
        match self.method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "PUT" => MethodFilter::PUT,
            "PATCH" => MethodFilter::PATCH,
            "DELETE" => MethodFilter::DELETE,
            other => panic!("route table: unsupported method {other} for {}", self.path),
        }
    }
}

/// `route!(METHOD "/path" => handler, rule)`.
macro_rules! route {
    ($method:ident $path:literal => $handler:path, $rule:expr) => {
        Route {
            method: stringify!($method),
            path: $path,
            handler: |m| axum::routing::on(m, $handler),
            handler_name: stringify!($handler),
            rule: $rule,
        }
    };
}

#[rustfmt::skip]
pub const ROUTES: &[Route] = &[
    route!(POST "/v1/functions" => functions::create,
        rule("function:Create", "function/*").refine(Refine::CreateFunction)),
    route!(GET "/v1/functions" => functions::list, rule("function:Read", "function/*")),
    route!(GET "/v1/functions/{name}" => functions::get, rule("function:Read", "function/{name}")),
    route!(DELETE "/v1/functions/{name}" => functions::delete, rule("function:Delete", "function/{name}")),
    route!(PUT "/v1/functions/{name}/code" => code::upload, rule("function:UpdateCode", "function/{name}").raw()),
    route!(GET "/v1/functions/{name}/code" => code::download, rule("function:Read", "function/{name}")),
    route!(PATCH "/v1/functions/{name}/config" => functions::update_config,
        rule("function:UpdateConfig", "function/{name}")),
    route!(POST "/v1/functions/{name}/versions" => versions::publish,
        rule("function:PublishVersion", "function/{name}")),
    route!(GET "/v1/functions/{name}/versions" => versions::list, rule("function:Read", "function/{name}")),
    route!(GET "/v1/functions/{name}/versions/{version}" => versions::get,
        rule("function:Read", "function/{name}/version/{version}")),
    route!(DELETE "/v1/functions/{name}/versions/{version}" => versions::delete,
        rule("function:DeleteVersion", "function/{name}/version/{version}")),
    route!(GET "/v1/functions/{name}/aliases" => aliases::list, rule("function:Read", "function/{name}")),
    route!(PUT "/v1/functions/{name}/aliases/{alias}" => aliases::put,
        rule("alias:Update", "function/{name}/alias/{alias}")),
    route!(GET "/v1/functions/{name}/aliases/{alias}" => aliases::get,
        rule("function:Read", "function/{name}/alias/{alias}")),
    route!(DELETE "/v1/functions/{name}/aliases/{alias}" => aliases::delete,
        rule("alias:Delete", "function/{name}/alias/{alias}")),
    // A gradual shift moves the alias: alias:Update, like moving it by hand.
    route!(POST "/v1/functions/{name}/aliases/{alias}/shift" => alias_shifts::start,
        rule("alias:Update", "function/{name}/alias/{alias}")),
    route!(GET "/v1/functions/{name}/aliases/{alias}/shift" => alias_shifts::get,
        rule("function:Read", "function/{name}/alias/{alias}")),
    route!(DELETE "/v1/functions/{name}/aliases/{alias}/shift" => alias_shifts::stop,
        rule("alias:Update", "function/{name}/alias/{alias}")),
    route!(POST "/v1/functions/{name}/invoke" => invoke::invoke,
        rule("function:Invoke", "function/{name}").refine(Refine::Invoke).raw()),
    // Logs can hold what a function printed: their own action, like CloudWatch Logs'.
    route!(GET "/v1/functions/{name}/logs" => logs::get, rule("function:ReadLogs", "function/{name}")),
    route!(GET "/v1/runtime" => runtime::get, rule("runtime:Read", "runtime")),
    route!(POST "/v1/runtime/evict" => runtime::evict, rule("runtime:Evict", "runtime")),
    route!(POST "/v1/functions/{name}/permissions" => permissions::add,
        rule("permission:Update", "function/{name}")),
    route!(GET "/v1/functions/{name}/permissions" => permissions::list, rule("function:Read", "function/{name}")),
    route!(DELETE "/v1/functions/{name}/permissions/{statement_id}" => permissions::remove,
        rule("permission:Update", "function/{name}")),
    route!(PUT "/v1/functions/{name}/concurrency" => concurrency::put,
        rule("function:UpdateConfig", "function/{name}")),
    route!(DELETE "/v1/functions/{name}/concurrency" => concurrency::delete,
        rule("function:UpdateConfig", "function/{name}")),
    route!(POST "/v1/apis" => apis::create, rule("api:Create", "api/*")),
    route!(GET "/v1/apis" => apis::list, rule("api:Read", "api/*")),
    route!(GET "/v1/apis/{id}" => apis::get, rule("api:Read", "api/{id}")),
    route!(DELETE "/v1/apis/{id}" => apis::delete, rule("api:Delete", "api/{id}")),
    route!(PUT "/v1/apis/{id}/routes" => apis::put_route, rule("api:UpdateRoutes", "api/{id}")),
    route!(GET "/v1/apis/{id}/routes" => apis::list_routes, rule("api:Read", "api/{id}")),
    route!(GET "/v1/apis/{id}/routes/{route}" => apis::get_route, rule("api:Read", "api/{id}")),
    route!(DELETE "/v1/apis/{id}/routes/{route}" => apis::delete_route, rule("api:UpdateRoutes", "api/{id}")),
    route!(POST "/v1/apis/{id}/deployments" => deployments::create,
        rule("api:Deploy", "api/{id}").refine(Refine::Deploy)),
    route!(GET "/v1/apis/{id}/deployments" => deployments::list, rule("api:Read", "api/{id}")),
    route!(GET "/v1/apis/{id}/deployments/{deployment}" => deployments::get, rule("api:Read", "api/{id}")),
    route!(DELETE "/v1/apis/{id}/deployments/{deployment}" => deployments::delete, rule("api:Deploy", "api/{id}")),
    route!(GET "/v1/apis/{id}/stages" => stages::list, rule("api:Read", "api/{id}")),
    // Moving the deployment or canary (`deployment_id`, `canary`) and binding secrets
    // (`secret_environment`) add their permissions through FIELD_RULES.
    route!(PUT "/v1/apis/{id}/stages/{stage}" => stages::put, rule("stage:Update", "api/{id}/stage/{stage}")),
    route!(PATCH "/v1/apis/{id}/stages/{stage}" => stages::patch, rule("stage:Update", "api/{id}/stage/{stage}")),
    route!(GET "/v1/apis/{id}/stages/{stage}" => stages::get, rule("api:Read", "api/{id}/stage/{stage}")),
    route!(DELETE "/v1/apis/{id}/stages/{stage}" => stages::delete, rule("stage:Delete", "api/{id}/stage/{stage}")),
    route!(DELETE "/v1/apis/{id}/stages/{stage}/canary" => canary::remove,
        rule("stage:Update", "api/{id}/stage/{stage}")),
    // Promotion moves the stage onto the canary's deployment: stage:Update + api:Deploy.
    route!(POST "/v1/apis/{id}/stages/{stage}/canary/promote" => canary::promote,
        rule("stage:Update", "api/{id}/stage/{stage}").refine(Refine::AlsoDeploy)),
    route!(DELETE "/v1/apis/{id}/stages/{stage}/cache" => stage_cache::flush,
        rule("stage:FlushCache", "api/{id}/stage/{stage}")),
    route!(POST "/v1/apis/{id}/stages/{stage}/invalidation-keys" => stage_cache::issue_key,
        rule("stage:Update", "api/{id}/stage/{stage}")),
    route!(GET "/v1/apis/{id}/stages/{stage}/metrics" => stage_metrics::metrics,
        rule("api:Read", "api/{id}/stage/{stage}")),
    route!(POST "/v1/keys" => keys::create, rule("key:Manage", "key/*").refine(Refine::CreateKey)),
    route!(GET "/v1/keys" => keys::list, rule("key:Manage", "key/*")),
    route!(DELETE "/v1/keys/{name}" => keys::delete, rule("key:Manage", "key/{name}")),
    route!(GET "/v1/secrets/{environment}" => secrets::list, rule("secret:List", "secret/{environment}/*")),
    route!(PUT "/v1/secrets/{environment}/{name}" => secrets::put,
        rule("secret:Put", "secret/{environment}/{name}")),
    route!(DELETE "/v1/secrets/{environment}/{name}" => secrets::delete,
        rule("secret:Delete", "secret/{environment}/{name}")),
    route!(GET "/v1/environments/{environment}/values" => values::list, rule("value:List", "value/{environment}/*")),
    route!(PUT "/v1/environments/{environment}/values/{name}" => values::put,
        rule("value:Put", "value/{environment}/{name}")),
    route!(DELETE "/v1/environments/{environment}/values/{name}" => values::delete,
        rule("value:Delete", "value/{environment}/{name}")),
    // Configuration (AppConfig): a key scoped to `config/shop/environment/dev` deploys to dev only.
    route!(POST "/v1/applications" => appconfig::create_application, rule("config:Create", "config/*")),
    route!(GET "/v1/applications" => appconfig::list_applications, rule("config:Read", "config/*")),
    route!(GET "/v1/applications/{application}" => appconfig::get_application,
        rule("config:Read", "config/{application}")),
    route!(DELETE "/v1/applications/{application}" => appconfig::delete_application,
        rule("config:Delete", "config/{application}")),
    route!(POST "/v1/applications/{application}/environments" => appconfig::create_environment,
        rule("config:Create", "config/{application}")),
    route!(GET "/v1/applications/{application}/environments" => appconfig::list_environments,
        rule("config:Read", "config/{application}")),
    route!(GET "/v1/applications/{application}/environments/{environment}" => appconfig::get_environment,
        rule("config:Read", "config/{application}/environment/{environment}")),
    route!(PATCH "/v1/applications/{application}/environments/{environment}" => appconfig::update_environment,
        rule("config:Update", "config/{application}/environment/{environment}")),
    route!(DELETE "/v1/applications/{application}/environments/{environment}" => appconfig::delete_environment,
        rule("config:Delete", "config/{application}/environment/{environment}")),
    route!(POST "/v1/applications/{application}/profiles" => appconfig::create_profile,
        rule("config:Create", "config/{application}")),
    route!(GET "/v1/applications/{application}/profiles" => appconfig::list_profiles,
        rule("config:Read", "config/{application}")),
    route!(GET "/v1/applications/{application}/profiles/{profile}" => appconfig::get_profile,
        rule("config:Read", "config/{application}/profile/{profile}")),
    route!(DELETE "/v1/applications/{application}/profiles/{profile}" => appconfig::delete_profile,
        rule("config:Delete", "config/{application}/profile/{profile}")),
    route!(POST "/v1/applications/{application}/profiles/{profile}/versions" => appconfig::create_version,
        rule("config:CreateVersion", "config/{application}/profile/{profile}").raw()),
    route!(GET "/v1/applications/{application}/profiles/{profile}/versions" => appconfig::list_versions,
        rule("config:Read", "config/{application}/profile/{profile}")),
    route!(GET "/v1/applications/{application}/profiles/{profile}/versions/{version}" => appconfig::get_version,
        rule("config:Read", "config/{application}/profile/{profile}")),
    route!(DELETE "/v1/applications/{application}/profiles/{profile}/versions/{version}" => appconfig::delete_version,
        rule("config:DeleteVersion", "config/{application}/profile/{profile}")),
    route!(POST "/v1/applications/{application}/environments/{environment}/deployments" => appconfig::start_deployment,
        rule("config:Deploy", "config/{application}/environment/{environment}")),
    route!(GET "/v1/applications/{application}/environments/{environment}/deployments" => appconfig::list_deployments,
        rule("config:Read", "config/{application}/environment/{environment}")),
    route!(GET "/v1/applications/{application}/environments/{environment}/deployments/{deployment}" =>
        appconfig::get_deployment, rule("config:Read", "config/{application}/environment/{environment}")),
    route!(DELETE "/v1/applications/{application}/environments/{environment}/deployments/{deployment}" =>
        appconfig::stop_deployment, rule("config:Deploy", "config/{application}/environment/{environment}")),
    route!(POST "/v1/deployment-strategies" => appconfig::create_strategy, rule("strategy:Create", "strategy/*")),
    route!(GET "/v1/deployment-strategies" => appconfig::list_strategies, rule("strategy:Read", "strategy/*")),
    route!(GET "/v1/deployment-strategies/{strategy}" => appconfig::get_strategy,
        rule("strategy:Read", "strategy/{strategy}")),
    route!(DELETE "/v1/deployment-strategies/{strategy}" => appconfig::delete_strategy,
        rule("strategy:Delete", "strategy/{strategy}")),
    // Lambda's API (control/aws/lambda.rs): the same actions on the same resources as
    // the /v1 twins; `{name}` may be an ARN or NAME:QUALIFIER (the rule sees NAME).
    route!(POST "/2015-03-31/functions" => lambda::create_function,
        rule("function:Create", "function/*").refine(Refine::CreateFunction).large()),
    route!(GET "/2015-03-31/functions" => lambda::list_functions, rule("function:Read", "function/*")),
    route!(GET "/2015-03-31/functions/" => lambda::list_functions, rule("function:Read", "function/*")),
    route!(GET "/2015-03-31/functions/{name}" => lambda::get_function, rule("function:Read", "function/{name}")),
    route!(DELETE "/2015-03-31/functions/{name}" => lambda::delete_function,
        rule("function:Delete", "function/{name}").refine(Refine::DeleteFunction)),
    route!(GET "/2015-03-31/functions/{name}/configuration" => lambda::get_function_configuration,
        rule("function:Read", "function/{name}")),
    route!(PUT "/2015-03-31/functions/{name}/configuration" => lambda::update_function_configuration,
        rule("function:UpdateConfig", "function/{name}")),
    route!(PUT "/2015-03-31/functions/{name}/code" => lambda::update_function_code,
        rule("function:UpdateCode", "function/{name}").large()),
    route!(POST "/2015-03-31/functions/{name}/versions" => lambda::publish_version,
        rule("function:PublishVersion", "function/{name}")),
    route!(GET "/2015-03-31/functions/{name}/versions" => lambda::list_versions,
        rule("function:Read", "function/{name}")),
    route!(POST "/2015-03-31/functions/{name}/aliases" => lambda::create_alias,
        rule("alias:Update", "function/{name}").refine(Refine::CreateAlias)),
    route!(GET "/2015-03-31/functions/{name}/aliases" => lambda::list_aliases, rule("function:Read", "function/{name}")),
    route!(GET "/2015-03-31/functions/{name}/aliases/{alias}" => lambda::get_alias,
        rule("function:Read", "function/{name}/alias/{alias}")),
    route!(PUT "/2015-03-31/functions/{name}/aliases/{alias}" => lambda::update_alias,
        rule("alias:Update", "function/{name}/alias/{alias}")),
    route!(DELETE "/2015-03-31/functions/{name}/aliases/{alias}" => lambda::delete_alias,
        rule("alias:Delete", "function/{name}/alias/{alias}")),
    route!(POST "/2015-03-31/functions/{name}/policy" => lambda::add_permission,
        rule("permission:Update", "function/{name}")),
    route!(GET "/2015-03-31/functions/{name}/policy" => lambda::get_policy, rule("function:Read", "function/{name}")),
    route!(DELETE "/2015-03-31/functions/{name}/policy/{statement_id}" => lambda::remove_permission,
        rule("permission:Update", "function/{name}")),
    route!(POST "/2015-03-31/functions/{name}/invocations" => lambda::invoke,
        rule("function:Invoke", "function/{name}").refine(Refine::Invoke).raw()),
    route!(PUT "/2017-10-31/functions/{name}/concurrency" => lambda::put_concurrency,
        rule("function:UpdateConfig", "function/{name}")),
    route!(DELETE "/2017-10-31/functions/{name}/concurrency" => lambda::delete_concurrency,
        rule("function:UpdateConfig", "function/{name}")),
    route!(GET "/2019-09-30/functions/{name}/concurrency" => lambda::get_concurrency,
        rule("function:Read", "function/{name}")),
    // API Gateway's REST API (control/aws/apigateway.rs): resources and methods are the
    // draft's routes (api:UpdateRoutes), deployments and stages as their /v1 twins;
    // `deploymentId` and `canarySettings` fields need api:Deploy (FIELD_RULES), as do
    // UpdateStage's patch operations on them (Refine::PatchOperations).
    route!(POST "/restapis" => apigateway::create_rest_api, rule("api:Create", "api/*")),
    route!(GET "/restapis" => apigateway::get_rest_apis, rule("api:Read", "api/*")),
    route!(GET "/restapis/{id}" => apigateway::get_rest_api, rule("api:Read", "api/{id}")),
    route!(DELETE "/restapis/{id}" => apigateway::delete_rest_api, rule("api:Delete", "api/{id}")),
    route!(GET "/restapis/{id}/resources" => apigateway::get_resources, rule("api:Read", "api/{id}")),
    route!(GET "/restapis/{id}/resources/{resource}" => apigateway::get_resource, rule("api:Read", "api/{id}")),
    route!(POST "/restapis/{id}/resources/{resource}" => apigateway::create_resource,
        rule("api:UpdateRoutes", "api/{id}")),
    route!(DELETE "/restapis/{id}/resources/{resource}" => apigateway::delete_resource,
        rule("api:UpdateRoutes", "api/{id}")),
    route!(PUT "/restapis/{id}/resources/{resource}/methods/{method}" => apigateway::put_method,
        rule("api:UpdateRoutes", "api/{id}")),
    route!(GET "/restapis/{id}/resources/{resource}/methods/{method}" => apigateway::get_method,
        rule("api:Read", "api/{id}")),
    route!(PUT "/restapis/{id}/resources/{resource}/methods/{method}/integration" => apigateway::put_integration,
        rule("api:UpdateRoutes", "api/{id}")),
    route!(GET "/restapis/{id}/resources/{resource}/methods/{method}/integration" => apigateway::get_integration,
        rule("api:Read", "api/{id}")),
    route!(POST "/restapis/{id}/deployments" => apigateway::create_deployment,
        rule("api:Deploy", "api/{id}").refine(Refine::Deploy)),
    route!(GET "/restapis/{id}/deployments" => apigateway::get_deployments, rule("api:Read", "api/{id}")),
    route!(POST "/restapis/{id}/stages" => apigateway::create_stage,
        rule("stage:Update", "api/{id}").refine(Refine::CreateStage)),
    route!(GET "/restapis/{id}/stages" => apigateway::get_stages, rule("api:Read", "api/{id}")),
    route!(GET "/restapis/{id}/stages/{stage}" => apigateway::get_stage, rule("api:Read", "api/{id}/stage/{stage}")),
    route!(PATCH "/restapis/{id}/stages/{stage}" => apigateway::update_stage,
        rule("stage:Update", "api/{id}/stage/{stage}").refine(Refine::PatchOperations)),
    route!(DELETE "/restapis/{id}/stages/{stage}" => apigateway::delete_stage,
        rule("stage:Delete", "api/{id}/stage/{stage}")),
    route!(DELETE "/restapis/{id}/stages/{stage}/cache/data" => apigateway::flush_stage_cache,
        rule("stage:FlushCache", "api/{id}/stage/{stage}")),
    route!(GET "/v1/audit" => audit::list, rule("audit:Read", "audit")),
    route!(GET "/metrics" => metrics::metrics, rule("metrics:Read", "metrics")),
    route!(GET "/v1/cluster" => cluster::cluster, rule("cluster:Read", "cluster")),
    // The console's traffic figures: each stage and version shown only to who may read it.
    route!(GET "/v1/stats" => stats::get, rule("api:Read", "stats").refine(Refine::PerItem)),
];

/// The routes of [`ROUTES`], without the fallbacks and layers [`super::app`] adds. Routes
/// sharing a path are merged into one method router (axum panics on a repeated method).
pub fn router() -> Router<AppState> {
    ROUTES.iter().fold(Router::new(), |router, r| router.route(r.path, (r.handler)(r.method_filter())))
}

/// The route `method` + `matched_path` (axum's `MatchedPath`) reached, if the table has it.
pub fn find(method: &Method, matched_path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.method == method.as_str() && r.path == matched_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_builds_a_router() {
        // Panics on an unsupported method, an invalid pattern or a (method, path) twice.
        let _ = router();
        assert!(ROUTES.len() >= 50, "{}", ROUTES.len());
    }

    #[test]
    fn find_matches_method_and_pattern() {
        let r = find(&Method::PUT, "/v1/functions/{name}/code").expect("code upload");
        assert_eq!(r.rule.action, "function:UpdateCode");
        assert!(find(&Method::HEAD, "/v1/functions").is_none());
        assert!(find(&Method::GET, "/v1/functions/app").is_none(), "patterns, not concrete paths");
    }
}
