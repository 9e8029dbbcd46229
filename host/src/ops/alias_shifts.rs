//! Gradual alias traffic shifting (CodeDeploy's, for Lambda aliases), on the rollout
//! engine of configuration deployments: a shift moves an alias's traffic from its version
//! to another by a strategy's schedule, computed from the clock per request
//! ([`crate::invoke::alias::pick`]); it ends by pointing the alias at the new version with
//! no routing (`COMPLETE`), or leaves it where it was (`ROLLED_BACK`: stopped, or a
//! monitor on the new version tripped). While it runs, changing or deleting the alias by
//! hand is a 409, as CodeDeploy's deployment owns it.

use super::functions::function;
use super::rollouts::{progress, DeploymentEvent, Rollout};
use super::{Error, Platform, Result};
use crate::model::appconfig::{self, Monitor, Strategy};
use crate::model::{AliasName, FunctionName, VersionId};
use crate::store::appconfig::{version_window_key, DeploymentEnd, ShiftRecord};
use crate::store::{new_revision, now_rfc3339, Tx};
use std::sync::Arc;

/// A shift as it stands at some time.
#[derive(Debug, Clone)]
pub struct ShiftStatus {
    pub record: ShiftRecord,
    pub state: &'static str,
    /// The new version's share of the traffic, percent.
    pub percentage_complete: f64,
    pub events: Vec<DeploymentEvent>,
}

pub fn status(x: ShiftRecord, now_ms: i64) -> ShiftStatus {
    let started = format!(
        "Shift of alias {} from version {} to {} started with strategy {}",
        x.alias, x.from_version, x.to_version, x.strategy.name
    );
    let (state, percentage_complete, events) = progress(
        &Rollout {
            strategy: &x.strategy,
            started_at_ms: x.started_at_ms,
            end: x.end,
            ended_at_ms: x.ended_at_ms,
            reason: x.reason.as_deref(),
            started,
            rolled_back: "The alias serves its previous version again",
        },
        now_ms,
    );
    ShiftStatus { record: x, state, percentage_complete, events }
}

/// The strategies a shift may name: CodeDeploy's, AppConfig's, then custom ones.
fn strategy(tx: &dyn Tx, name: &str) -> Result<Strategy> {
    appconfig::codedeploy_predefined()
        .into_iter()
        .chain(appconfig::predefined())
        .chain(tx.list_strategies()?)
        .find(|s| s.name == name)
        .ok_or_else(|| Error::not_found(crate::model::error::Kind::Config, format!("deployment strategy {name}")))
}

/// Finishes `x` in `tx` if its time is up: the alias moves to the new version with no
/// routing. Returns whether it did.
fn finish_if_due(tx: &dyn Tx, x: &ShiftRecord, now_ms: i64) -> Result<bool> {
    let ends = x.started_at_ms + x.strategy.total_ms() as i64;
    if x.end != DeploymentEnd::Active || ends > now_ms {
        return Ok(false);
    }
    let (name, alias) = (FunctionName::parse(&x.function)?, AliasName::parse(&x.alias)?);
    if let Some(mut rec) = tx.find_alias(&name, &alias)? {
        rec.version = VersionId::Number(x.to_version);
        rec.routing = None;
        rec.revision_id = new_revision();
        rec.updated_at = now_rfc3339();
        tx.write_alias(&rec)?;
    }
    tx.end_shift(&x.function, &x.alias, x.number, DeploymentEnd::Complete, ends, None)
}

/// The alias's shift in progress at `now_ms`, if any (one whose time is up is finished on
/// the way).
pub fn active_in(tx: &dyn Tx, function: &str, alias: &str, now_ms: i64) -> Result<Option<ShiftRecord>> {
    for x in tx.list_shifts(Some(function))? {
        if x.alias != alias || x.end != DeploymentEnd::Active {
            continue;
        }
        if !finish_if_due(tx, &x, now_ms)? {
            return Ok(Some(x));
        }
    }
    Ok(None)
}

/// A 409 when a shift owns the alias (manual changes and deletion are refused meanwhile).
pub fn refuse_if_shifting(tx: &dyn Tx, name: &FunctionName, alias: &AliasName) -> Result<()> {
    if let Some(x) = active_in(tx, name, alias, crate::configuration::now_ms())? {
        return Err(Error::Conflict(format!(
            "Alias {alias} of {name} is being shifted from version {} to {} (shift {}): wait for it, or stop it \
             with DELETE /v1/functions/{name}/aliases/{alias}/shift",
            x.from_version, x.to_version, x.number
        )));
    }
    Ok(())
}

pub struct StartShift {
    pub to_version: u32,
    pub strategy: String,
    pub monitors: Vec<Monitor>,
}

pub async fn start(p: &Arc<Platform>, name: FunctionName, alias: AliasName, req: StartShift) -> Result<ShiftStatus> {
    if !appconfig::is_name(&req.strategy) {
        return Err(Error::Invalid(format!(
            "Invalid strategy name '{}'",
            req.strategy.chars().take(80).collect::<String>()
        )));
    }
    if req.monitors.len() > appconfig::MAX_MONITORS {
        return Err(Error::Invalid(format!("a shift can have at most {} monitors", appconfig::MAX_MONITORS)));
    }
    for m in &req.monitors {
        m.validate(crate::live::windows::MAX_WINDOW_S)?;
        if m.function() != name.as_str() {
            return Err(Error::Invalid(format!(
                "a shift's monitors watch the shifted function's new version: function must be {name}, not {}",
                m.function()
            )));
        }
    }
    p.commit(move |tx| {
        function(tx, &name)?;
        let rec = tx.find_alias(&name, &alias)?.ok_or_else(|| Error::alias_not_found(&name, &alias))?;
        let now = crate::configuration::now_ms();
        if let Some(x) = active_in(tx, &name, &alias, now)? {
            return Err(Error::Conflict(format!("Alias {alias} is already being shifted (shift {})", x.number)));
        }
        let from = match (rec.version, rec.routing) {
            (VersionId::Number(n), None) => n,
            (_, Some(_)) => {
                return Err(Error::Conflict(format!(
                    "Alias {alias} already splits its traffic between two versions: point it at one version first"
                )))
            }
            (VersionId::Latest, _) => {
                return Err(Error::Invalid(format!(
                    "Alias {alias} points at $LATEST: a shift moves traffic between published versions"
                )))
            }
        };
        if tx.find_version(&name, req.to_version)?.is_none() {
            return Err(Error::function_not_found(&name, Some(&req.to_version.to_string())));
        }
        if req.to_version == from {
            return Err(Error::Invalid(format!("Alias {alias} already points at version {from}")));
        }
        let s = strategy(tx, &req.strategy)?;
        let mut shift = ShiftRecord {
            function: name.to_string(),
            alias: alias.to_string(),
            number: 0,
            from_version: from,
            to_version: req.to_version,
            strategy: s,
            monitors: req.monitors.clone(),
            started_at_ms: now,
            end: DeploymentEnd::Active,
            ended_at_ms: None,
            reason: None,
        };
        shift.number = tx.insert_shift(&shift)?;
        // Nothing to wait for (AllAtOnce): done at once.
        finish_if_due(tx, &shift, now)?;
        let x =
            shifts_of(tx, &name, &alias)?.pop().ok_or_else(|| Error::internal("the shift just written is missing"))?;
        Ok(status(x, now))
    })
    .await
}

fn shifts_of(tx: &dyn Tx, name: &FunctionName, alias: &AliasName) -> Result<Vec<ShiftRecord>> {
    Ok(tx.list_shifts(Some(name.as_str()))?.into_iter().filter(|x| x.alias == alias.as_str()).collect())
}

/// The alias's newest shift.
pub async fn get(p: &Arc<Platform>, name: FunctionName, alias: AliasName) -> Result<ShiftStatus> {
    let x = p
        .read(move |tx| {
            function(tx, &name)?;
            tx.find_alias(&name, &alias)?.ok_or_else(|| Error::alias_not_found(&name, &alias))?;
            shifts_of(tx, &name, &alias)?.pop().ok_or_else(|| {
                Error::not_found(crate::model::error::Kind::Config, format!("shift of alias {name}:{alias}"))
            })
        })
        .await?;
    Ok(status(x, crate::configuration::now_ms()))
}

/// Stops the alias's shift in progress: the alias keeps serving its previous version.
pub async fn stop(p: &Arc<Platform>, name: FunctionName, alias: AliasName, reason: String) -> Result<ShiftStatus> {
    p.commit(move |tx| stop_in(tx, &name, &alias, &reason)).await
}

fn stop_in(tx: &dyn Tx, name: &FunctionName, alias: &AliasName, reason: &str) -> Result<ShiftStatus> {
    function(tx, name)?;
    let now = crate::configuration::now_ms();
    let Some(x) = active_in(tx, name, alias, now)? else {
        return Err(Error::Conflict(format!("Alias {alias} of {name} is not being shifted")));
    };
    tx.end_shift(&x.function, &x.alias, x.number, DeploymentEnd::RolledBack, now, Some(reason))?;
    let x = shifts_of(tx, name, alias)?.pop().ok_or_else(|| Error::internal("the shift just ended is missing"))?;
    Ok(status(x, now))
}

/// Finishes every shift whose time is up (the rollout task); returns how many, and
/// whether any is still running.
pub async fn finish_due(p: &Arc<Platform>) -> Result<(usize, bool)> {
    let now = crate::configuration::now_ms();
    let active: Vec<ShiftRecord> =
        p.read(|tx| Ok(tx.list_shifts(None)?.into_iter().filter(|x| x.end == DeploymentEnd::Active).collect())).await?;
    let due = active.iter().filter(|x| x.started_at_ms + x.strategy.total_ms() as i64 <= now).count();
    if due == 0 {
        return Ok((0, !active.is_empty()));
    }
    let finished = p
        .commit(move |tx| {
            let mut n = 0;
            for x in tx.list_shifts(None)? {
                n += usize::from(finish_if_due(tx, &x, now)?);
            }
            Ok(n)
        })
        .await?;
    Ok((finished, active.len() > finished))
}

/// Rolls back every running shift one of whose monitors trips on its new version's
/// invocations; returns how many.
pub async fn check_monitors(p: &Arc<Platform>) -> Result<usize> {
    let now = crate::configuration::now_ms();
    let running: Vec<ShiftRecord> = p
        .read(|tx| {
            Ok(tx
                .list_shifts(None)?
                .into_iter()
                .filter(|x| x.end == DeploymentEnd::Active && !x.monitors.is_empty())
                .collect())
        })
        .await?;
    let mut trips = Vec::new();
    {
        let snapshot = p.data_plane().snapshot();
        for x in running {
            if !matches!(status(x.clone(), now).state, "DEPLOYING" | "BAKING") {
                continue;
            }
            let key = version_window_key(x.to_version);
            let reason = x.monitors.iter().find_map(|m| {
                let w = snapshot.config.window(&x.function, &key)?;
                super::rollouts::tripped(m, &w.stats(m.window_s()))
            });
            if let Some(reason) = reason {
                trips.push((x, reason));
            }
        }
    }
    let mut rolled_back = 0;
    for (x, reason) in trips {
        tracing::warn!(function = %x.function, alias = %x.alias, shift = x.number, "{reason}: rolling back");
        let (name, alias) = (FunctionName::parse(&x.function)?, AliasName::parse(&x.alias)?);
        let reason = format!("{reason} (on version {})", x.to_version);
        match stop(p, name, alias, reason).await {
            Ok(_) => rolled_back += 1,
            Err(Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(rolled_back)
}
