//! Configuration per environment, after AWS AppConfig: applications hold environments and
//! configuration profiles; a profile has immutable numbered versions; a deployment rolls
//! one version out to one environment following a **strategy** — the growth schedule this
//! file defines. Pure: the schedule is a function of the time since the deployment
//! started, so the data plane computes a rollout's percentage per request from the clock
//! (no step has to be written for requests to see it) and a restart resumes exactly where
//! the clock says.

use super::Invalid;
use serde::{Deserialize, Serialize};

/// Most content a configuration version may hold (AWS's hosted-configuration limit).
pub const MAX_CONTENT_BYTES: usize = 1024 * 1024;
/// Validators per profile (AWS: 2).
pub const MAX_VALIDATORS: usize = 2;
/// Bytes of a JSON schema validator's content (its serialized JSON).
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// Longest duration and final bake time of a strategy: 24 h (AWS: 1440 minutes).
pub const MAX_STRATEGY_SECONDS: u64 = 24 * 3600;
/// Profiles one function may read.
pub const MAX_FUNCTION_PROFILES: usize = 10;
/// Where a function's profiles appear in its file system: `/config/APP/PROFILE`.
pub const CONFIG_DIR: &str = "/config";

/// How a deployment grows: AWS AppConfig's `LINEAR` and `EXPONENTIAL`, and CodeDeploy's
/// canary (`growth_factor` % at the start, 100 % when the duration is over).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrowthType {
    Linear,
    Exponential,
    Canary,
}

/// A deployment strategy: how fast a new configuration reaches 100 % of invocations and
/// how long it is watched afterwards. Frozen into every deployment that uses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Strategy {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub growth_type: GrowthType,
    /// Percent: 1 to 100.
    pub growth_factor: f64,
    /// How long the growth takes (`DEPLOYING`), seconds.
    pub duration_s: u64,
    /// How long the deployment is watched at 100 % (`BAKING`), seconds.
    pub final_bake_time_s: u64,
}

/// AWS's predefined strategies, with AWS's values.
pub fn predefined() -> Vec<Strategy> {
    let s = |name: &str, description: &str, growth_type, growth_factor, duration_s, final_bake_time_s| Strategy {
        name: name.to_string(),
        description: description.to_string(),
        growth_type,
        growth_factor,
        duration_s,
        final_bake_time_s,
    };
    vec![
        s("AppConfig.AllAtOnce", "Quick: all at once, then 10 minutes of baking", GrowthType::Linear, 100.0, 0, 600),
        s(
            "AppConfig.Linear50PercentEvery30Seconds",
            "Testing/demonstration: 50 % every 30 seconds, then 1 minute of baking",
            GrowthType::Linear,
            50.0,
            60,
            60,
        ),
        s(
            "AppConfig.Linear20PercentEvery6Minutes",
            "AWS recommended: 20 % every 6 minutes, then 30 minutes of baking",
            GrowthType::Linear,
            20.0,
            1800,
            1800,
        ),
        s(
            "AppConfig.Canary10Percent20Minutes",
            "AWS recommended: exponential from 10 % over 20 minutes, then 10 minutes of baking",
            GrowthType::Exponential,
            10.0,
            1200,
            600,
        ),
    ]
}

/// CodeDeploy's predefined strategies for shifting an alias's traffic (SAM's
/// `DeploymentPreference` types), with CodeDeploy's values: canaries hold 10 % for the
/// duration, then move everything; linear ones add 10 % per interval.
pub fn codedeploy_predefined() -> Vec<Strategy> {
    let s = |name: String, growth_type, growth_factor, duration_s| Strategy {
        name,
        description: String::new(),
        growth_type,
        growth_factor,
        duration_s,
        final_bake_time_s: 0,
    };
    let mut out = vec![s("AllAtOnce".into(), GrowthType::Linear, 100.0, 0)];
    for m in [5, 10, 15, 30] {
        out.push(s(format!("Canary10Percent{m}Minutes"), GrowthType::Canary, 10.0, m * 60));
    }
    for (m, unit) in [(1, "Minute"), (2, "Minutes"), (3, "Minutes"), (10, "Minutes")] {
        out.push(s(format!("Linear10PercentEvery{m}{unit}"), GrowthType::Linear, 10.0, m * 600));
    }
    out
}

/// Is `name` one of the predefined strategies' (they can't be created or deleted)?
pub fn is_predefined(name: &str) -> bool {
    name.starts_with("AppConfig.") || codedeploy_predefined().iter().any(|s| s.name == name)
}

/// One step of a schedule: from `at_ms` after the start, `percent` of invocations get the
/// new configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub at_ms: u64,
    pub percent: f64,
}

/// Where a rollout stands at some time after its start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// Growing: this percentage, `step` (0-based) of the schedule.
    Deploying {
        percent: f64,
        step: usize,
    },
    /// At 100 %, watched until the bake time ends.
    Baking,
    Complete,
}

impl Strategy {
    pub fn validate(&self) -> Result<(), Invalid> {
        if !(1.0..=100.0).contains(&self.growth_factor) {
            return Err(Invalid::new(format!(
                "growth_factor {} is out of range: it must be between 1 and 100",
                self.growth_factor
            )));
        }
        for (what, v) in [("duration_s", self.duration_s), ("final_bake_time_s", self.final_bake_time_s)] {
            if v > MAX_STRATEGY_SECONDS {
                return Err(Invalid::new(format!(
                    "{what} {v} is out of range: it must be between 0 and {MAX_STRATEGY_SECONDS}"
                )));
            }
        }
        super::validate_text("strategy description", &self.description)?;
        if self.description.chars().count() > 1024 {
            return Err(Invalid::new("description is too long: at most 1024 characters"));
        }
        Ok(())
    }

    /// The growth steps, as AWS defines them. Canary: `growth_factor` % at the start, 100 %
    /// when the duration is over (it is then baking). Linear: every step adds `growth_factor` %,
    /// `ceil(100 / G)` steps spread evenly over the duration (interval = duration / steps),
    /// the first at the start. Exponential: step n reaches `G·2^n` %, capped at 100 (G=10:
    /// 10, 20, 40, 80, 100), spread the same way. A duration of 0 is one step of 100 %.
    pub fn schedule(&self) -> Vec<Step> {
        let g = self.growth_factor.clamp(1.0, 100.0);
        let duration_ms = self.duration_s * 1000;
        if self.growth_type == GrowthType::Canary && g < 100.0 && duration_ms > 0 {
            return vec![Step { at_ms: 0, percent: g }, Step { at_ms: duration_ms, percent: 100.0 }];
        }
        let mut percents = Vec::new();
        let mut n = 0u32;
        loop {
            let p = match self.growth_type {
                GrowthType::Linear | GrowthType::Canary => g * f64::from(n + 1),
                GrowthType::Exponential => g * 2f64.powi(n as i32),
            };
            // A float step that lands within a millionth of 100 is 100 (3 × 33.333333…).
            if p >= 100.0 - 1e-6 {
                percents.push(100.0);
                break;
            }
            percents.push(p);
            n += 1;
        }
        if duration_ms == 0 {
            return vec![Step { at_ms: 0, percent: 100.0 }];
        }
        let count = percents.len() as u64;
        percents
            .into_iter()
            .enumerate()
            .map(|(i, percent)| Step { at_ms: duration_ms * i as u64 / count, percent })
            .collect()
    }

    /// Milliseconds from the start to `COMPLETE`.
    pub fn total_ms(&self) -> u64 {
        (self.duration_s + self.final_bake_time_s) * 1000
    }

    /// The phase `elapsed_ms` after the start.
    pub fn phase_at(&self, elapsed_ms: u64) -> Phase {
        if elapsed_ms >= self.total_ms() {
            return Phase::Complete;
        }
        if elapsed_ms >= self.duration_s * 1000 {
            return Phase::Baking;
        }
        let steps = self.schedule();
        let step = steps.iter().rposition(|s| s.at_ms <= elapsed_ms).unwrap_or(0);
        Phase::Deploying { percent: steps[step].percent, step }
    }

    /// The share of invocations (0 to 100) that get the new configuration `elapsed_ms`
    /// after the start.
    pub fn percent_at(&self, elapsed_ms: u64) -> f64 {
        match self.phase_at(elapsed_ms) {
            Phase::Deploying { percent, .. } => percent,
            Phase::Baking | Phase::Complete => 100.0,
        }
    }
}

/// A check a configuration version must pass before it is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Validator {
    /// A JSON Schema (draft 2020-12) the content (JSON, or YAML read as JSON) must match.
    JsonSchema { content: serde_json::Value },
    /// A Waygate function (`name:qualifier`) invoked with the candidate content: an error,
    /// a non-2xx answer or `{"valid": false, "reason": …}` rejects it.
    Function { target: String },
}

/// Monitors per environment (AWS: 5 alarms).
pub const MAX_MONITORS: usize = 5;

/// An alarm rule over Waygate's own metrics of one function's invocations in the
/// environment that lists it: while a deployment there is `DEPLOYING` or `BAKING`, a rule
/// that trips rolls it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "metric", rename_all = "snake_case", deny_unknown_fields)]
pub enum Monitor {
    /// Trips when more than `threshold_percent` % of the function's invocations in the
    /// last `window_s` seconds failed (function errors, timeouts, traps).
    FunctionErrorRate {
        function: String,
        threshold_percent: f64,
        window_s: u64,
        /// Fewer invocations than this in the window never trip it (default 1).
        #[serde(default = "one")]
        min_invocations: u64,
    },
    /// Trips when the 99th percentile duration of the function's invocations in the last
    /// `window_s` seconds is above `threshold_ms` (measured in √2-wide buckets).
    FunctionLatencyP99 {
        function: String,
        threshold_ms: f64,
        window_s: u64,
        #[serde(default = "one")]
        min_invocations: u64,
    },
}

fn one() -> u64 {
    1
}

impl Monitor {
    pub fn function(&self) -> &str {
        match self {
            Monitor::FunctionErrorRate { function, .. } | Monitor::FunctionLatencyP99 { function, .. } => function,
        }
    }

    pub fn window_s(&self) -> u64 {
        match self {
            Monitor::FunctionErrorRate { window_s, .. } | Monitor::FunctionLatencyP99 { window_s, .. } => *window_s,
        }
    }

    pub fn validate(&self, max_window_s: u64) -> Result<(), Invalid> {
        super::FunctionName::parse(self.function())?;
        if !(1..=max_window_s).contains(&self.window_s()) {
            return Err(Invalid::new(format!(
                "monitor window_s {} is out of range: it must be between 1 and {max_window_s}",
                self.window_s()
            )));
        }
        match self {
            Monitor::FunctionErrorRate { threshold_percent: t, .. } if !(*t >= 0.0 && *t < 100.0) => {
                Err(Invalid::new(format!("threshold_percent {t} is out of range: 0 to less than 100")))
            }
            Monitor::FunctionLatencyP99 { threshold_ms: t, .. } if !(*t > 0.0 && t.is_finite()) => {
                Err(Invalid::new(format!("threshold_ms {t} is out of range: it must be above 0")))
            }
            _ => Ok(()),
        }
    }
}

/// The media types a configuration version may have, by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    Json,
    Yaml,
    Text,
}

impl ContentType {
    /// From a request's `Content-Type` (parameters ignored); `None`: not one of ours.
    pub fn from_header(value: &str) -> Option<ContentType> {
        let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Some(ContentType::Json),
            "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" => Some(ContentType::Yaml),
            "text/plain" => Some(ContentType::Text),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Json => "application/json",
            ContentType::Yaml => "application/yaml",
            ContentType::Text => "text/plain",
        }
    }

    pub fn parse_stored(s: &str) -> Option<ContentType> {
        Self::from_header(s)
    }
}

/// `APP/PROFILE`, a profile a function may read, as its configuration names it.
pub fn parse_profile_ref(s: &str) -> Result<(&str, &str), Invalid> {
    let bad = || {
        Invalid::new(format!(
            "Invalid configuration profile reference '{}': use APPLICATION/PROFILE",
            s.chars().take(80).collect::<String>()
        ))
    };
    let (app, profile) = s.split_once('/').ok_or_else(bad)?;
    if !is_name(app) || !is_name(profile) {
        return Err(bad());
    }
    Ok((app, profile))
}

/// Names of applications, environments, profiles and strategies: 1 to 64 of
/// `A-Z a-z 0-9 _ . -`, not only dots (no path characters).
pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && !s.chars().all(|c| c == '.')
}

/// One profile's content as an invocation sees it: the file `/config/APP/PROFILE`. The
/// bytes are shared with the snapshot (a view, never a copy per request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    pub application: String,
    pub profile: String,
    /// `APP/PROFILE`, its path under [`CONFIG_DIR`] (made once, with the snapshot).
    pub path: String,
    pub version: u32,
    pub content: bytes::Bytes,
    /// blake3 of `content`, hex (verified when the snapshot was built).
    pub content_hash: String,
}

impl ConfigFile {
    pub fn new(application: &str, profile: &str, version: u32, content: bytes::Bytes, content_hash: String) -> Self {
        ConfigFile {
            application: application.to_string(),
            profile: profile.to_string(),
            path: format!("{application}/{profile}"),
            version,
            content,
            content_hash,
        }
    }
}

/// The configuration versions an invocation was given, as its REPORT line and the
/// `x-waygate-config` header name them: `shop/flags=2,shop/motd=1` (empty: none).
pub fn describe(files: &[std::sync::Arc<ConfigFile>]) -> String {
    let mut out = String::new();
    for f in files {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&format!("{}/{}={}", f.application, f.profile, f.version));
    }
    out
}

/// The response header naming the configuration versions an invocation saw.
pub const CONFIG_HEADER: &str = "x-waygate-config";

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn strategy(growth_type: GrowthType, g: f64, duration_s: u64, bake: u64) -> Strategy {
        Strategy {
            name: "s".into(),
            description: String::new(),
            growth_type,
            growth_factor: g,
            duration_s,
            final_bake_time_s: bake,
        }
    }

    fn percents(s: &Strategy) -> Vec<f64> {
        s.schedule().iter().map(|s| s.percent).collect()
    }

    #[test]
    fn aws_examples() {
        let exp = strategy(GrowthType::Exponential, 10.0, 1200, 600);
        assert_eq!(percents(&exp), [10.0, 20.0, 40.0, 80.0, 100.0]);
        assert_eq!(exp.schedule()[1].at_ms, 240_000, "every 4 minutes");
        let lin = strategy(GrowthType::Linear, 50.0, 60, 60);
        assert_eq!(lin.schedule(), [Step { at_ms: 0, percent: 50.0 }, Step { at_ms: 30_000, percent: 100.0 }]);
        assert_eq!(lin.phase_at(0), Phase::Deploying { percent: 50.0, step: 0 });
        assert_eq!(lin.phase_at(29_999), Phase::Deploying { percent: 50.0, step: 0 });
        assert_eq!(lin.phase_at(30_000), Phase::Deploying { percent: 100.0, step: 1 });
        assert_eq!(lin.phase_at(60_000), Phase::Baking);
        assert_eq!(lin.phase_at(120_000), Phase::Complete);
        let twenty = strategy(GrowthType::Linear, 20.0, 1800, 1800);
        assert_eq!(percents(&twenty), [20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(twenty.schedule()[1].at_ms, 360_000, "every 6 minutes");
        let all = strategy(GrowthType::Linear, 100.0, 0, 600);
        assert_eq!(all.schedule(), [Step { at_ms: 0, percent: 100.0 }]);
        assert_eq!(all.phase_at(0), Phase::Baking);
        // Nothing to watch: complete at once.
        assert_eq!(strategy(GrowthType::Linear, 100.0, 0, 0).phase_at(0), Phase::Complete);
        // Uneven factors end at exactly 100.
        assert_eq!(percents(&strategy(GrowthType::Linear, 30.0, 40, 0)), [30.0, 60.0, 90.0, 100.0]);
        assert_eq!(percents(&strategy(GrowthType::Linear, 100.0 / 3.0, 30, 0)).last(), Some(&100.0));
        for p in predefined().into_iter().chain(codedeploy_predefined()) {
            p.validate().unwrap();
            assert!(is_predefined(&p.name), "{}", p.name);
        }
        let canary = codedeploy_predefined().into_iter().find(|s| s.name == "Canary10Percent5Minutes").unwrap();
        assert_eq!(canary.schedule(), [Step { at_ms: 0, percent: 10.0 }, Step { at_ms: 300_000, percent: 100.0 }]);
        assert_eq!(canary.phase_at(299_999), Phase::Deploying { percent: 10.0, step: 0 });
        assert_eq!(canary.phase_at(300_000), Phase::Complete, "no bake: done when it reaches 100 %");
        let linear = codedeploy_predefined().into_iter().find(|s| s.name == "Linear10PercentEvery1Minute").unwrap();
        assert_eq!(linear.schedule()[1].at_ms, 60_000);
        assert_eq!(linear.schedule().len(), 10);
    }

    #[test]
    fn out_of_range_strategies_are_refused() {
        for g in [0.0, 0.99, 100.01, f64::NAN, f64::INFINITY] {
            let err = strategy(GrowthType::Linear, g, 10, 0).validate().unwrap_err();
            assert!(err.0.contains("growth_factor"), "{err}");
        }
        assert!(strategy(GrowthType::Linear, 10.0, MAX_STRATEGY_SECONDS + 1, 0).validate().is_err());
        assert!(strategy(GrowthType::Linear, 10.0, 0, MAX_STRATEGY_SECONDS + 1).validate().is_err());
    }

    /// Properties of every schedule, over random strategies: it starts at the start, its
    /// times and percentages strictly grow, it ends at exactly 100 % within the duration,
    /// the steps are evenly spaced, and the percentage never falls as time passes.
    #[test]
    fn schedule_properties_hold_for_random_strategies() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        for _ in 0..5000 {
            let growth_type = match rng.random_range(0..3) {
                0 => GrowthType::Linear,
                1 => GrowthType::Exponential,
                _ => GrowthType::Canary,
            };
            let g = if rng.random_bool(0.2) { rng.random_range(1..=100) as f64 } else { rng.random_range(1.0..=100.0) };
            let duration = if rng.random_bool(0.1) { 0 } else { rng.random_range(1..=MAX_STRATEGY_SECONDS) };
            let bake = rng.random_range(0..=3600);
            let s = strategy(growth_type, g, duration, bake);
            s.validate().unwrap();
            let steps = s.schedule();
            assert_eq!(steps[0].at_ms, 0, "{s:?}");
            assert_eq!(steps.last().unwrap().percent, 100.0, "{s:?}");
            assert!(steps.len() <= 100, "{s:?}");
            for w in steps.windows(2) {
                assert!(w[0].percent < w[1].percent, "{s:?}");
                let last = if growth_type == GrowthType::Canary { duration * 1000 } else { duration * 1000 - 1 };
                assert!(w[0].at_ms <= w[1].at_ms && w[1].at_ms <= last, "{s:?}");
            }
            if growth_type != GrowthType::Exponential && steps.len() > 1 {
                assert!((steps[0].percent - g).abs() < 1e-9, "{s:?}");
            }
            let mut last = 0.0;
            let mut t = 0;
            let end = s.total_ms() + 1000;
            while t <= end {
                let p = s.percent_at(t);
                assert!(p >= last && p > 0.0 && p <= 100.0, "{s:?} at {t}: {p}");
                last = p;
                t += rng.random_range(1..=end / 20 + 1);
            }
            assert_eq!(s.phase_at(s.total_ms()), Phase::Complete);
            assert_eq!(s.percent_at(duration * 1000), 100.0);
        }
    }

    #[test]
    fn names_and_references() {
        assert!(parse_profile_ref("shop/flags").is_ok());
        for bad in ["shop", "shop/", "/flags", "shop/fl/ags", "../x", "shop/..", "a b/c"] {
            assert!(parse_profile_ref(bad).is_err(), "{bad}");
        }
        assert_eq!(ContentType::from_header("application/json; charset=utf-8"), Some(ContentType::Json));
        assert_eq!(ContentType::from_header("application/x-yaml"), Some(ContentType::Yaml));
        assert_eq!(ContentType::from_header("application/octet-stream"), None);
    }
}
