//! [`ConfigStore`] in SQL (both engines).

use super::{args, Row, SqlTx};
use super::{conv, json, parse_json};
use crate::model::appconfig::Strategy;
use crate::model::appconfig::{Monitor, Validator};
use crate::store::appconfig::{
    ApplicationRecord, ConfigDeploymentRecord, ConfigStore, ConfigVersionMeta, ConfigVersionRecord, DeploymentEnd,
    EnvironmentRecord, NewConfigDeployment, ProfileRecord, ShiftRecord,
};
use crate::store::{now_rfc3339, StoreResult};

/// An `INSERT … ON CONFLICT DO NOTHING`: `false` when the row was already there.
fn inserted(r: StoreResult<u64>) -> StoreResult<bool> {
    Ok(r? > 0)
}

const VERSION_META: &str = "application, profile, number, content_type, content_hash, length(content), created_at";

fn version_meta(r: &Row) -> StoreResult<ConfigVersionMeta> {
    Ok(ConfigVersionMeta {
        application: r.get(0)?,
        profile: r.get(1)?,
        number: r.get(2)?,
        content_type: r.get(3)?,
        content_hash: r.get(4)?,
        size: r.get::<i64>(5)? as u64,
        created_at: r.get(6)?,
    })
}

impl ConfigStore for SqlTx<'_> {
    fn insert_application(&self, name: &str, description: &str) -> StoreResult<bool> {
        inserted(self.execute(
            "INSERT INTO config_applications (name, description, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            args![name, description, now_rfc3339()],
        ))
    }

    fn list_applications(&self) -> StoreResult<Vec<ApplicationRecord>> {
        let rows =
            self.query_map("SELECT name, description, created_at FROM config_applications ORDER BY name", &[], |r| {
                Ok(ApplicationRecord { name: r.get(0)?, description: r.get(1)?, created_at: r.get(2)? })
            })?;
        Ok(rows)
    }

    fn delete_application(&self, name: &str) -> StoreResult<bool> {
        Ok(self.execute("DELETE FROM config_applications WHERE name = ?1", args![name])? > 0)
    }

    fn insert_environment(&self, application: &str, name: &str, monitors: &[Monitor]) -> StoreResult<bool> {
        inserted(self.execute(
            "INSERT INTO config_environments (application, name, monitors, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            args![application, name, json(&monitors)?, now_rfc3339()],
        ))
    }

    fn list_environments(&self, application: Option<&str>) -> StoreResult<Vec<EnvironmentRecord>> {
        let rows = self.query_map(
            "SELECT application, name, monitors, created_at FROM config_environments \
             WHERE CAST(?1 AS TEXT) IS NULL OR application = ?1 ORDER BY application, name",
            args![application],
            |r| {
                Ok(EnvironmentRecord {
                    application: r.get(0)?,
                    name: r.get(1)?,
                    monitors: parse_json(&r.get::<String>(2)?)?,
                    created_at: r.get(3)?,
                })
            },
        )?;
        Ok(rows)
    }

    fn delete_environment(&self, application: &str, name: &str) -> StoreResult<bool> {
        Ok(self.execute(
            "DELETE FROM config_environments WHERE application = ?1 AND name = ?2",
            args![application, name],
        )? > 0)
    }

    fn set_environment_monitors(&self, application: &str, name: &str, monitors: &[Monitor]) -> StoreResult<bool> {
        Ok(self.execute(
            "UPDATE config_environments SET monitors = ?3 WHERE application = ?1 AND name = ?2",
            args![application, name, json(&monitors)?],
        )? > 0)
    }

    fn insert_profile(&self, application: &str, name: &str, validators: &[Validator]) -> StoreResult<bool> {
        inserted(self.execute(
            "INSERT INTO config_profiles (application, name, validators, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            args![application, name, json(&validators)?, now_rfc3339()],
        ))
    }

    fn list_profiles(&self, application: &str) -> StoreResult<Vec<ProfileRecord>> {
        let rows = self.query_map(
            "SELECT application, name, validators, created_at FROM config_profiles WHERE application = ?1 ORDER BY name", args![application], |r| {
            Ok(ProfileRecord {
                application: r.get(0)?,
                name: r.get(1)?,
                validators: parse_json(&r.get::<String>(2)?)?,
                created_at: r.get(3)?,
            })
        })?;
        Ok(rows)
    }

    fn delete_profile(&self, application: &str, name: &str) -> StoreResult<bool> {
        Ok(self
            .execute("DELETE FROM config_profiles WHERE application = ?1 AND name = ?2", args![application, name])?
            > 0)
    }

    fn insert_config_version(
        &self,
        application: &str,
        profile: &str,
        content_type: &str,
        content: &[u8],
        content_hash: &str,
    ) -> StoreResult<u32> {
        let number: u32 = self.query_one(
            "UPDATE config_profiles SET next_version = next_version + 1 WHERE application = ?1 AND name = ?2 \
             RETURNING next_version - 1",
            args![application, profile],
            |r| r.get(0),
        )?;
        self.execute(
            "INSERT INTO config_versions (application, profile, number, content_type, content, content_hash, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            args![application, profile, number, content_type, content, content_hash, now_rfc3339()],
        )?;
        Ok(number)
    }

    fn list_config_versions(&self, application: &str, profile: &str) -> StoreResult<Vec<ConfigVersionMeta>> {
        let rows = self.query_map(
            &format!(
            "SELECT {VERSION_META} FROM config_versions WHERE application = ?1 AND profile = ?2 ORDER BY number DESC"
        ),
            args![application, profile],
            version_meta,
        )?;
        Ok(rows)
    }

    fn get_config_version(
        &self,
        application: &str,
        profile: &str,
        number: u32,
    ) -> StoreResult<Option<ConfigVersionRecord>> {
        self.query_opt(
            &format!(
                "SELECT {VERSION_META}, content FROM config_versions \
                     WHERE application = ?1 AND profile = ?2 AND number = ?3"
            ),
            args![application, profile, number],
            |r| Ok(ConfigVersionRecord { meta: version_meta(r)?, content: r.get(7)? }),
        )
    }

    fn delete_config_version(&self, application: &str, profile: &str, number: u32) -> StoreResult<bool> {
        Ok(self.execute(
            "DELETE FROM config_versions WHERE application = ?1 AND profile = ?2 AND number = ?3",
            args![application, profile, number],
        )? > 0)
    }

    fn insert_strategy(&self, strategy: &Strategy) -> StoreResult<bool> {
        inserted(self.execute(
            "INSERT INTO deployment_strategies (name, definition, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            args![strategy.name, json(strategy)?, now_rfc3339()],
        ))
    }

    fn list_strategies(&self) -> StoreResult<Vec<Strategy>> {
        let rows = self.query_map("SELECT definition FROM deployment_strategies ORDER BY name", &[], |r| {
            parse_json(&r.get::<String>(0)?)
        })?;
        Ok(rows)
    }

    fn delete_strategy(&self, name: &str) -> StoreResult<bool> {
        Ok(self.execute("DELETE FROM deployment_strategies WHERE name = ?1", args![name])? > 0)
    }

    fn insert_config_deployment(&self, d: &NewConfigDeployment<'_>) -> StoreResult<u32> {
        let number: u32 = self.query_one(
            "UPDATE config_environments SET next_deployment = next_deployment + 1 \
             WHERE application = ?1 AND name = ?2 RETURNING next_deployment - 1",
            args![d.application, d.environment],
            |r| r.get(0),
        )?;
        self.execute(
            "INSERT INTO config_deployments (application, environment, number, profile, version, strategy, \
             description, started_at_ms, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            args![
                d.application,
                d.environment,
                number,
                d.profile,
                d.version,
                json(d.strategy)?,
                d.description,
                d.started_at_ms,
                DeploymentEnd::Active.as_str()
            ],
        )?;
        Ok(number)
    }

    fn list_config_deployments(
        &self,
        application: Option<&str>,
        environment: Option<&str>,
    ) -> StoreResult<Vec<ConfigDeploymentRecord>> {
        let rows = self.query_map(
            "SELECT application, environment, number, profile, version, strategy, description, started_at_ms, state, \
             ended_at_ms, reason FROM config_deployments \
             WHERE (CAST(?1 AS TEXT) IS NULL OR application = ?1) AND (CAST(?2 AS TEXT) IS NULL OR environment = ?2) \
             ORDER BY application, environment, number",
            args![application, environment],
            |r| {
                let state: String = r.get(8)?;
                Ok(ConfigDeploymentRecord {
                    application: r.get(0)?,
                    environment: r.get(1)?,
                    number: r.get(2)?,
                    profile: r.get(3)?,
                    version: r.get(4)?,
                    strategy: parse_json(&r.get::<String>(5)?)?,
                    description: r.get(6)?,
                    started_at_ms: r.get(7)?,
                    end: conv(DeploymentEnd::parse(&state).ok_or(UnknownState(state)))?,
                    ended_at_ms: r.get(9)?,
                    reason: r.get(10)?,
                })
            },
        )?;
        Ok(rows)
    }

    fn insert_shift(&self, x: &ShiftRecord) -> StoreResult<u32> {
        let number: u32 = self.query_one(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM alias_shifts WHERE function = ?1 AND alias = ?2",
            args![&x.function, &x.alias],
            |r| r.get(0),
        )?;
        self.execute(
            "INSERT INTO alias_shifts (function, alias, number, from_version, to_version, strategy, monitors, \
             started_at_ms, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            args![
                x.function,
                x.alias,
                number,
                x.from_version,
                x.to_version,
                json(&x.strategy)?,
                json(&x.monitors)?,
                x.started_at_ms,
                DeploymentEnd::Active.as_str()
            ],
        )?;
        Ok(number)
    }

    fn list_shifts(&self, function: Option<&str>) -> StoreResult<Vec<ShiftRecord>> {
        let rows = self.query_map(
            "SELECT function, alias, number, from_version, to_version, strategy, monitors, started_at_ms, state, \
             ended_at_ms, reason FROM alias_shifts WHERE CAST(?1 AS TEXT) IS NULL OR function = ?1 ORDER BY function, alias, number",
            args![function],
            |r| {
                let state: String = r.get(8)?;
                Ok(ShiftRecord {
                    function: r.get(0)?,
                    alias: r.get(1)?,
                    number: r.get(2)?,
                    from_version: r.get(3)?,
                    to_version: r.get(4)?,
                    strategy: parse_json(&r.get::<String>(5)?)?,
                    monitors: parse_json(&r.get::<String>(6)?)?,
                    started_at_ms: r.get(7)?,
                    end: conv(DeploymentEnd::parse(&state).ok_or(UnknownState(state)))?,
                    ended_at_ms: r.get(9)?,
                    reason: r.get(10)?,
                })
            },
        )?;
        Ok(rows)
    }

    fn end_shift(
        &self,
        function: &str,
        alias: &str,
        number: u32,
        end: DeploymentEnd,
        ended_at_ms: i64,
        reason: Option<&str>,
    ) -> StoreResult<bool> {
        Ok(self.execute(
            "UPDATE alias_shifts SET state = ?4, ended_at_ms = ?5, reason = ?6 \
             WHERE function = ?1 AND alias = ?2 AND number = ?3 AND state = 'ACTIVE'",
            args![function, alias, number, end.as_str(), ended_at_ms, reason],
        )? > 0)
    }

    fn delete_shifts(&self, function: &str, alias: &str) -> StoreResult<()> {
        self.execute("DELETE FROM alias_shifts WHERE function = ?1 AND alias = ?2", args![function, alias])?;
        Ok(())
    }

    fn end_config_deployment(
        &self,
        application: &str,
        environment: &str,
        number: u32,
        end: DeploymentEnd,
        ended_at_ms: i64,
        reason: Option<&str>,
    ) -> StoreResult<bool> {
        Ok(self.execute(
            "UPDATE config_deployments SET state = ?4, ended_at_ms = ?5, reason = ?6 \
             WHERE application = ?1 AND environment = ?2 AND number = ?3 AND state = 'ACTIVE'",
            args![application, environment, number, end.as_str(), ended_at_ms, reason],
        )? > 0)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown deployment state {0}")]
struct UnknownState(String);
