//! [`ApiStore`] in SQL (both engines): APIs, draft routes, deployments, stages.

use super::{args, upsert, Row, SqlTx};
use super::{conv, json, parse_json};
use crate::model::api::{ApiId, Method, RoutePath, StageName};
use crate::store::{
    now_rfc3339, ApiRecord, ApiStore, DeploymentRecord, GatewayState, RouteRecord, StageRecord, StoreResult,
};

fn api_row(r: &Row) -> StoreResult<ApiRecord> {
    Ok(ApiRecord {
        id: conv(ApiId::parse(&r.get::<String>(0)?))?,
        name: r.get(1)?,
        description: r.get(2)?,
        created_at: r.get(3)?,
    })
}

const ROUTE_COLS: &str = "id, method, path, integration, created_at, updated_at";

fn route_row(r: &Row) -> StoreResult<RouteRecord> {
    Ok(RouteRecord {
        id: r.get(0)?,
        method: conv(Method::parse(&r.get::<String>(1)?))?,
        path: conv(RoutePath::parse(&r.get::<String>(2)?))?,
        integration: parse_json(&r.get::<String>(3)?)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

const DEPLOYMENT_COLS: &str = "api_id, id, description, routes, created_at";

fn deployment_row(r: &Row) -> StoreResult<DeploymentRecord> {
    Ok(DeploymentRecord {
        api_id: conv(ApiId::parse(&r.get::<String>(0)?))?,
        id: r.get(1)?,
        description: r.get(2)?,
        routes: parse_json(&r.get::<String>(3)?)?,
        created_at: r.get(4)?,
    })
}

const STAGE_COLS: &str = "api_id, name, deployment_id, variables, description, canary, cache, throttle, \
     invalidation_key_hash, created_at, updated_at, secret_environment, capacity";

fn stage_row(r: &Row) -> StoreResult<StageRecord> {
    Ok(StageRecord {
        api_id: conv(ApiId::parse(&r.get::<String>(0)?))?,
        name: conv(StageName::parse(&r.get::<String>(1)?))?,
        deployment_id: r.get(2)?,
        variables: parse_json(&r.get::<String>(3)?)?,
        description: r.get(4)?,
        canary: r.get::<Option<String>>(5)?.map(|c| parse_json(&c)).transpose()?,
        cache: parse_json(&r.get::<String>(6)?)?,
        throttle: parse_json(&r.get::<String>(7)?)?,
        invalidation_key_hash: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
        secret_environment: r.get(11)?,
        capacity: parse_json(&r.get::<String>(12)?)?,
    })
}

impl ApiStore for SqlTx<'_> {
    fn insert_api(&self, a: &ApiRecord) -> StoreResult<()> {
        self.execute(
            "INSERT INTO apis (id, name, description, created_at) VALUES (?1, ?2, ?3, ?4)",
            args![a.id.as_str(), a.name, a.description, a.created_at],
        )?;
        Ok(())
    }

    fn find_api(&self, id: &ApiId) -> StoreResult<Option<ApiRecord>> {
        self.query_opt("SELECT id, name, description, created_at FROM apis WHERE id = ?1", args![id.as_str()], api_row)
    }

    fn list_apis(&self) -> StoreResult<Vec<ApiRecord>> {
        let rows =
            self.query_map("SELECT id, name, description, created_at FROM apis ORDER BY created_at, id", &[], api_row)?;
        Ok(rows)
    }

    fn delete_api(&self, id: &ApiId) -> StoreResult<bool> {
        // Stages reference deployments; remove them first so the cascade order doesn't matter.
        self.execute("DELETE FROM stages WHERE api_id = ?1", args![id.as_str()])?;
        Ok(self.execute("DELETE FROM apis WHERE id = ?1", args![id.as_str()])? > 0)
    }

    fn list_routes(&self, api: &ApiId) -> StoreResult<Vec<RouteRecord>> {
        let rows = self.query_map(
            &format!("SELECT {ROUTE_COLS} FROM routes WHERE api_id = ?1 ORDER BY path, method"),
            args![api.as_str()],
            route_row,
        )?;
        Ok(rows)
    }

    fn find_route(&self, api: &ApiId, id: &str) -> StoreResult<Option<RouteRecord>> {
        self.query_opt(
            &format!("SELECT {ROUTE_COLS} FROM routes WHERE api_id = ?1 AND id = ?2"),
            args![api.as_str(), id],
            route_row,
        )
    }

    fn write_route(&self, api: &ApiId, r: &RouteRecord) -> StoreResult<()> {
        self.execute(
            &format!(
                "INSERT INTO routes (api_id, {ROUTE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) {}",
                upsert(&["api_id", "id"], ROUTE_COLS)
            ),
            args![
                api.as_str(),
                r.id,
                r.method.as_str(),
                r.path.as_str(),
                json(&r.integration)?,
                r.created_at,
                r.updated_at
            ],
        )?;
        Ok(())
    }

    fn delete_route(&self, api: &ApiId, id: &str) -> StoreResult<bool> {
        Ok(self.execute("DELETE FROM routes WHERE api_id = ?1 AND id = ?2", args![api.as_str(), id])? > 0)
    }

    fn list_declared(&self, api: &ApiId) -> StoreResult<Vec<(String, Option<Method>)>> {
        let rows = self.query_map(
            "SELECT path, method FROM declared WHERE api_id = ?1 ORDER BY path, method",
            args![api.as_str()],
            |r| {
                let method: String = r.get(1)?;
                let method = match method.as_str() {
                    "" => None,
                    m => Some(conv(Method::parse(m))?),
                };
                Ok((r.get::<String>(0)?, method))
            },
        )?;
        Ok(rows)
    }

    fn declare(&self, api: &ApiId, path: &str, method: Option<Method>) -> StoreResult<()> {
        self.execute(
            "INSERT INTO declared (api_id, path, method) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            args![api.as_str(), path, method.map_or("", |m| m.as_str())],
        )?;
        Ok(())
    }

    fn delete_declared_under(&self, api: &ApiId, path: &str) -> StoreResult<()> {
        let below =
            format!("{}/%", path.trim_end_matches('/').replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        self.execute(
            "DELETE FROM declared WHERE api_id = ?1 AND (path = ?2 OR path LIKE ?3 ESCAPE '\\')",
            args![api.as_str(), path, below],
        )?;
        Ok(())
    }

    fn insert_deployment(&self, d: &DeploymentRecord) -> StoreResult<()> {
        self.execute(
            &format!("INSERT INTO deployments ({DEPLOYMENT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
            args![d.api_id.as_str(), d.id, d.description, json(&d.routes)?, d.created_at],
        )?;
        Ok(())
    }

    fn find_deployment(&self, api: &ApiId, id: &str) -> StoreResult<Option<DeploymentRecord>> {
        self.query_opt(
            &format!("SELECT {DEPLOYMENT_COLS} FROM deployments WHERE api_id = ?1 AND id = ?2"),
            args![api.as_str(), id],
            deployment_row,
        )
    }

    fn list_deployments(&self, api: &ApiId) -> StoreResult<Vec<DeploymentRecord>> {
        let rows = self.query_map(
            &format!("SELECT {DEPLOYMENT_COLS} FROM deployments WHERE api_id = ?1 ORDER BY created_at, id"),
            args![api.as_str()],
            deployment_row,
        )?;
        Ok(rows)
    }

    fn stages_using(&self, api: &ApiId, deployment: &str) -> StoreResult<Vec<String>> {
        let rows = self.query_map(
            &format!(
                "SELECT name FROM stages WHERE api_id = ?1 AND (deployment_id = ?2 OR {} = ?2) ORDER BY name",
                self.json_field("canary", "deployment_id")
            ),
            args![api.as_str(), deployment],
            |r| r.get(0),
        )?;
        Ok(rows)
    }

    fn delete_deployment(&self, api: &ApiId, id: &str) -> StoreResult<bool> {
        Ok(self.execute("DELETE FROM deployments WHERE api_id = ?1 AND id = ?2", args![api.as_str(), id])? > 0)
    }

    fn find_stage(&self, api: &ApiId, name: &StageName) -> StoreResult<Option<StageRecord>> {
        self.query_opt(
            &format!("SELECT {STAGE_COLS} FROM stages WHERE api_id = ?1 AND name = ?2"),
            args![api.as_str(), name.as_str()],
            stage_row,
        )
    }

    fn list_stages(&self, api: &ApiId) -> StoreResult<Vec<StageRecord>> {
        let rows = self.query_map(
            &format!("SELECT {STAGE_COLS} FROM stages WHERE api_id = ?1 ORDER BY name"),
            args![api.as_str()],
            stage_row,
        )?;
        Ok(rows)
    }

    fn write_stage(&self, s: &StageRecord) -> StoreResult<()> {
        let canary = s.canary.as_ref().map(json).transpose()?;
        self.execute(
            &format!(
                "INSERT INTO stages ({STAGE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) {}",
                upsert(&["api_id", "name"], STAGE_COLS)
            ),
            args![
                s.api_id.as_str(),
                s.name.as_str(),
                s.deployment_id,
                json(&s.variables)?,
                s.description,
                canary,
                json(&s.cache)?,
                json(&s.throttle)?,
                s.invalidation_key_hash,
                s.created_at,
                now_rfc3339(),
                s.secret_environment,
                json(&s.capacity)?,
            ],
        )?;
        Ok(())
    }

    fn delete_stage(&self, api: &ApiId, name: &StageName) -> StoreResult<bool> {
        Ok(self.execute("DELETE FROM stages WHERE api_id = ?1 AND name = ?2", args![api.as_str(), name.as_str()])? > 0)
    }

    fn load_gateway(&self) -> StoreResult<GatewayState> {
        let (stages, deployments) = self.stages_of(None)?;
        Ok(GatewayState { stages, deployments, permissions: super::policies::all(self)? })
    }

    fn load_gateway_apis(&self, apis: &std::collections::BTreeSet<String>) -> StoreResult<GatewayState> {
        let mut state = GatewayState { permissions: super::policies::all(self)?, ..Default::default() };
        for api in apis {
            let (stages, deployments) = self.stages_of(Some(api))?;
            state.stages.extend(stages);
            state.deployments.extend(deployments);
        }
        Ok(state)
    }
}

impl SqlTx<'_> {
    /// The stages of `api` (all with `None`) and the deployments they serve.
    fn stages_of(&self, api: Option<&str>) -> StoreResult<(Vec<StageRecord>, Vec<DeploymentRecord>)> {
        let stages = self.query_map(
            &format!(
                "SELECT {STAGE_COLS} FROM stages WHERE CAST(?1 AS TEXT) IS NULL OR api_id = ?1 ORDER BY api_id, name"
            ),
            args![api],
            stage_row,
        )?;
        // Only deployments some stage (or its canary) serves.
        let deployments = self.query_map(
            &format!(
                "SELECT {DEPLOYMENT_COLS} FROM deployments d WHERE (CAST(?1 AS TEXT) IS NULL OR d.api_id = ?1) \
                 AND EXISTS (SELECT 1 FROM stages s WHERE s.api_id = d.api_id \
                 AND (s.deployment_id = d.id OR {} = d.id))",
                self.json_field("s.canary", "deployment_id")
            ),
            args![api],
            deployment_row,
        )?;
        Ok((stages, deployments))
    }
}
