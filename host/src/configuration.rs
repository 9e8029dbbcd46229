//! Configuration as the data plane serves it: per environment and profile, the settled
//! version and the rollout in progress, built with the snapshot. Which version an
//! invocation sees during a rollout is decided per invocation from the clock
//! ([`crate::model::appconfig::Strategy::percent_at`]): a step takes effect at its
//! scheduled time without any write, and a restart resumes where the clock says.

use crate::live::windows::{Window, Windows};
use crate::model::appconfig::{ConfigFile, Strategy};
use crate::model::hash::content_hash_hex;
use crate::store::appconfig::{ConfigVersionRecord, DeployedProfile};
use rand::Rng;
use std::collections::HashMap;
use std::sync::Arc;

/// A deployment rolling out: `target` for `percent_at(now - started)` % of invocations.
struct Rollout {
    started_at_ms: i64,
    strategy: Strategy,
    target: Option<Arc<ConfigFile>>,
}

/// What an environment serves of one profile.
struct Served {
    settled: Option<Arc<ConfigFile>>,
    rollout: Option<Rollout>,
}

#[derive(Default)]
pub struct ConfigSnapshot {
    /// environment → `APP/PROFILE` → what it serves.
    by_environment: HashMap<String, HashMap<String, Served>>,
    /// function → environment (or `#VERSION`, for an alias shift's monitors) → the
    /// invocation window its monitors read. Nested so a lookup by `&str` allocates nothing.
    windows: HashMap<String, HashMap<String, Arc<Window>>>,
}

/// The record's content as a file, if its bytes still match their hash (a mismatch is
/// logged and the version is not served: corrupt configuration must not reach guests).
fn file(v: ConfigVersionRecord) -> Option<Arc<ConfigFile>> {
    let hash = content_hash_hex(&v.content);
    if hash != v.meta.content_hash {
        tracing::error!(
            application = %v.meta.application, profile = %v.meta.profile, version = v.meta.number,
            "configuration version content does not match its hash: not served"
        );
        return None;
    }
    Some(Arc::new(ConfigFile::new(
        &v.meta.application,
        &v.meta.profile,
        v.meta.number,
        bytes::Bytes::from(v.content),
        v.meta.content_hash,
    )))
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl ConfigSnapshot {
    /// See [`crate::snapshot::Snapshot::describe`].
    pub fn describe(&self) -> String {
        use std::collections::BTreeMap;
        let file = |f: &Option<Arc<ConfigFile>>| f.as_ref().map(|f| format!("{}@{}", f.path, f.version));
        let served: BTreeMap<_, BTreeMap<_, _>> = self
            .by_environment
            .iter()
            .map(|(e, m)| {
                let m = m
                    .iter()
                    .map(|(k, s)| {
                        let rollout = s.rollout.as_ref().map(|r| (r.started_at_ms, file(&r.target)));
                        (k, (file(&s.settled), rollout))
                    })
                    .collect();
                (e, m)
            })
            .collect();
        let windows: BTreeMap<_, std::collections::BTreeSet<_>> =
            self.windows.iter().map(|(f, m)| (f, m.keys().collect())).collect();
        format!("config {served:?} windows {windows:?}\n")
    }

    pub fn build(deployed: Vec<DeployedProfile>, watched: Vec<(String, String)>, live: &Windows) -> ConfigSnapshot {
        let mut renewal = live.renew();
        let mut windows: HashMap<String, HashMap<String, Arc<Window>>> = HashMap::new();
        for key in watched {
            let w = renewal.carry(key.clone(), |old| old.unwrap_or_default());
            windows.entry(key.0).or_default().insert(key.1, w);
        }
        let mut by_environment: HashMap<String, HashMap<String, Served>> = HashMap::new();
        for d in deployed {
            let served = Served {
                settled: d.settled.and_then(file),
                rollout: d.rollout.map(|(dep, v)| Rollout {
                    started_at_ms: dep.started_at_ms,
                    strategy: dep.strategy,
                    target: file(v),
                }),
            };
            by_environment.entry(d.environment).or_default().insert(format!("{}/{}", d.application, d.profile), served);
        }
        ConfigSnapshot { by_environment, windows }
    }

    /// The window of `function`'s invocations in `environment`, if a monitor watches it.
    pub fn window(&self, function: &str, environment: &str) -> Option<&Arc<Window>> {
        self.windows.get(function)?.get(environment)
    }

    /// Every window watching `function` (`None`: no monitor names it), for callers that
    /// look up more than one key.
    pub fn windows_of(&self, function: &str) -> Option<&HashMap<String, Arc<Window>>> {
        self.windows.get(function)
    }

    /// The files an invocation in `environment` sees of the profiles it may read
    /// (`APP/PROFILE`), at `now_ms`: a profile with nothing deployed there is absent.
    pub fn files(
        &self,
        profiles: &[String],
        environment: &str,
        now_ms: i64,
        rng: &mut impl Rng,
    ) -> Vec<Arc<ConfigFile>> {
        let Some(env) = self.by_environment.get(environment) else { return Vec::new() };
        profiles
            .iter()
            .filter_map(|p| {
                let served = env.get(p.as_str())?;
                let chosen = match &served.rollout {
                    Some(r) => {
                        let elapsed = u64::try_from(now_ms - r.started_at_ms).unwrap_or(0);
                        let percent = r.strategy.percent_at(elapsed);
                        if percent >= 100.0 || rng.random_range(0.0..100.0) < percent {
                            &r.target
                        } else {
                            &served.settled
                        }
                    }
                    None => &served.settled,
                };
                chosen.clone()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::appconfig::GrowthType;
    use crate::store::appconfig::{ConfigDeploymentRecord, ConfigVersionMeta, DeploymentEnd};
    use rand::SeedableRng;

    fn version(n: u32, content: &str) -> ConfigVersionRecord {
        ConfigVersionRecord {
            meta: ConfigVersionMeta {
                application: "shop".into(),
                profile: "flags".into(),
                number: n,
                content_type: "application/json".into(),
                content_hash: content_hash_hex(content.as_bytes()),
                size: content.len() as u64,
                created_at: String::new(),
            },
            content: content.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_rollout_serves_its_share_and_corrupt_content_is_not_served() {
        let strategy = Strategy {
            name: "s".into(),
            description: String::new(),
            growth_type: GrowthType::Linear,
            growth_factor: 20.0,
            duration_s: 50,
            final_bake_time_s: 10,
        };
        let dep = ConfigDeploymentRecord {
            application: "shop".into(),
            environment: "prod".into(),
            number: 2,
            profile: "flags".into(),
            version: 2,
            strategy,
            description: String::new(),
            started_at_ms: 1_000_000,
            end: DeploymentEnd::Active,
            ended_at_ms: None,
            reason: None,
        };
        let windows = Windows::default();
        let snap = ConfigSnapshot::build(
            vec![DeployedProfile {
                application: "shop".into(),
                environment: "prod".into(),
                profile: "flags".into(),
                settled: Some(version(1, "{\"on\":false}")),
                rollout: Some((dep, version(2, "{\"on\":true}"))),
            }],
            vec![("orders".into(), "prod".into())],
            &windows,
        );
        assert!(snap.window("orders", "prod").is_some() && snap.window("orders", "dev").is_none());
        let refs = vec!["shop/flags".to_string(), "shop/other".to_string()];
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let share = |at: i64, rng: &mut rand::rngs::StdRng| {
            (0..2000).filter(|_| snap.files(&refs, "prod", at, rng)[0].version == 2).count()
        };
        // 20 % at the start, 40 % after a fifth of the duration, all after it.
        let s0 = share(1_000_000, &mut rng);
        assert!((250..550).contains(&s0), "{s0}");
        let s1 = share(1_010_000, &mut rng);
        assert!((650..950).contains(&s1), "{s1}");
        assert_eq!(share(1_050_000, &mut rng), 2000);
        assert!(snap.files(&refs, "dev", 1_050_000, &mut rng).is_empty(), "nothing deployed to dev");
        // A version whose bytes don't match its hash is not served.
        let mut bad = version(1, "{}");
        bad.content = b"{\"tampered\":1}".to_vec();
        let snap = ConfigSnapshot::build(
            vec![DeployedProfile {
                application: "shop".into(),
                environment: "prod".into(),
                profile: "flags".into(),
                settled: Some(bad),
                rollout: None,
            }],
            Vec::new(),
            &windows,
        );
        assert!(snap.files(&refs, "prod", 0, &mut rng).is_empty());
    }
}
