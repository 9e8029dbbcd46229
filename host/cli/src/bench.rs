//! `waygate bench`: a built-in load generator for a stage URL or a function. Reports
//! client latency percentiles (hdrhistogram), req/s, errors by status and the server-side
//! breakdown parsed from `server-timing`; draws it as an SVG with `--plot`.
//!
//! What "cold" means, level by level (docs/performance.md says the same):
//! * compile: Wasm → machine code, paid once at upload (`PUT …/code`), never by a request;
//! * load: verify + deserialize the compiled artifact + pre-link, paid by the first request
//!   of a code hash after a restart or an eviction: `--cold` evicts before each request
//!   (`POST /v1/runtime/evict`) so every measured request pays it (`load` in server-timing);
//! * instantiate: a fresh instance, paid by every request, warm or cold.

use super::Conn;
use anyhow::{anyhow, bail, Context};
use clap::Args;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct BenchArgs {
    /// A URL (e.g. a stage's invoke URL + path) or a function: NAME, NAME:VERSION, NAME:ALIAS.
    target: String,
    /// Total requests (default 1000; 100 with --cold).
    #[arg(long, short = 'n', conflicts_with = "duration")]
    requests: Option<usize>,
    /// Run for this many seconds instead of a request count.
    #[arg(long, short = 'd')]
    duration: Option<f64>,
    /// Requests in flight at once (ignored with --cold, which runs one at a time).
    #[arg(long, short = 'c', default_value_t = 8)]
    concurrency: usize,
    /// Evict loaded code before each request (one at a time), so every request pays the load: verify, deserialize, pre-link.
    #[arg(long)]
    cold: bool,
    /// HTTP method for a URL target.
    #[arg(long, default_value = "GET")]
    method: String,
    /// Request body (a URL target) or payload (a function target).
    #[arg(long)]
    payload: Option<String>,
    /// Draw the latency distribution and the server-side breakdown into this SVG file.
    #[arg(long)]
    plot: Option<PathBuf>,
    #[command(flatten)]
    conn: Conn,
}

/// The `server-timing` entries Waygate sends, in display order.
const PHASES: [&str; 5] = ["route", "load", "instantiate", "run", "total"];

struct Tally {
    latency: Histogram<u64>,
    /// Server-side phases in µs, keyed as [`PHASES`].
    phases: Vec<Histogram<u64>>,
    statuses: BTreeMap<String, u64>,
}

fn hist() -> Histogram<u64> {
    // 1 µs .. 10 min, 3 significant digits: bounds are constants, cannot fail.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

impl Tally {
    fn new() -> Self {
        Tally { latency: hist(), phases: PHASES.iter().map(|_| hist()).collect(), statuses: BTreeMap::new() }
    }
    fn merge(&mut self, o: &Tally) {
        let _ = self.latency.add(&o.latency);
        for (a, b) in self.phases.iter_mut().zip(&o.phases) {
            let _ = a.add(b);
        }
        for (k, v) in &o.statuses {
            *self.statuses.entry(k.clone()).or_default() += v;
        }
    }
    fn server_timing(&mut self, header: &str) {
        for entry in header.split(',') {
            let Some((name, dur)) = entry.trim().split_once(";dur=") else { continue };
            let (Some(i), Ok(ms)) = (PHASES.iter().position(|p| *p == name), dur.parse::<f64>()) else { continue };
            let _ = self.phases[i].record(((ms * 1000.0).round() as u64).max(1));
        }
    }
}

struct Target {
    url: String,
    method: reqwest::Method,
    body: Option<String>,
    token: Option<String>,
}

pub fn run(a: BenchArgs) -> anyhow::Result<ExitCode> {
    let is_url = a.target.starts_with("http://") || a.target.starts_with("https://");
    let needs_admin = !is_url || a.cold;
    let client = if needs_admin { Some(a.conn.client()?) } else { None };
    let token = match &client {
        Some(_) => Some(a.conn.token()?),
        None => None,
    };
    let target = if is_url {
        let method = reqwest::Method::from_bytes(a.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| anyhow!("invalid --method '{}'", a.method))?;
        Target { url: a.target.clone(), method, body: a.payload.clone(), token: None }
    } else {
        let (name, q) = waygate::model::qualifier::split_qualified(&a.target);
        let mut url = format!("{}/v1/functions/{name}/invoke", a.conn.endpoint());
        if let Some(q) = q {
            url = format!("{url}?qualifier={}", crate::enc(q));
        }
        Target { url, method: reqwest::Method::POST, body: a.payload.clone(), token: token.clone() }
    };
    let concurrency = if a.cold { 1 } else { a.concurrency.clamp(1, 10_000) };
    let requests = match (a.requests, a.duration) {
        (Some(n), _) => Some(n.max(1)),
        (None, Some(_)) => None,
        (None, None) => Some(if a.cold { 100 } else { 1000 }),
    };
    let duration = a.duration.map(|s| {
        if s > 0.0 && s <= 86_400.0 {
            Ok(Duration::from_secs_f64(s))
        } else {
            Err(anyhow!("--duration must be between 0 and 86400 seconds"))
        }
    });
    let duration = duration.transpose()?;
    let evict_url = a.cold.then(|| format!("{}/v1/runtime/evict", a.conn.endpoint()));

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (tally, elapsed) = rt.block_on(drive(Arc::new(target), concurrency, requests, duration, evict_url, token))?;
    let report = report(&a, &tally, elapsed, concurrency);
    if a.conn.output == super::output::Output::Json {
        println!("{report}");
    } else {
        print_text(&report);
    }
    if let Some(path) = &a.plot {
        plot(path, &a.target, &tally, &report).with_context(|| format!("drawing {}", path.display()))?;
        if a.conn.output != super::output::Output::Json {
            println!("plot written to {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn drive(
    target: Arc<Target>,
    concurrency: usize,
    requests: Option<usize>,
    duration: Option<Duration>,
    evict_url: Option<String>,
    token: Option<String>,
) -> anyhow::Result<(Tally, Duration)> {
    let http =
        reqwest::Client::builder().pool_max_idle_per_host(concurrency).timeout(Duration::from_secs(960)).build()?;
    let bar = match (requests, duration) {
        (Some(n), _) => indicatif::ProgressBar::new(n as u64),
        (None, Some(d)) => indicatif::ProgressBar::new(d.as_secs().max(1)),
        (None, None) => indicatif::ProgressBar::hidden(),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let issued = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = duration.map(|d| started + d);
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (http, target, issued, bar) = (http.clone(), target.clone(), issued.clone(), bar.clone());
        let (evict_url, token) = (evict_url.clone(), token.clone());
        workers.push(tokio::spawn(async move {
            let mut t = Tally::new();
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if requests.is_some_and(|max| n >= max) {
                    break;
                }
                if let Some(u) = &evict_url {
                    let r = http.post(u).bearer_auth(token.as_deref().unwrap_or("")).send().await;
                    match r {
                        Ok(r) if r.status().is_success() => {}
                        Ok(r) => bail!("evicting loaded code failed: HTTP {}", r.status()),
                        Err(e) => bail!("evicting loaded code failed: {e}"),
                    }
                }
                let mut req = http.request(target.method.clone(), &target.url);
                if let Some(tok) = &target.token {
                    req = req.bearer_auth(tok);
                }
                if let Some(b) = &target.body {
                    req = req.body(b.clone());
                }
                let sent = Instant::now();
                let key = match req.send().await {
                    Ok(resp) => {
                        if let Some(st) = resp.headers().get("server-timing").and_then(|v| v.to_str().ok()) {
                            t.server_timing(st);
                        }
                        let status = resp.status().as_u16();
                        let _ = resp.bytes().await;
                        status.to_string()
                    }
                    Err(e) if e.is_timeout() => "timeout".to_string(),
                    Err(_) => "connection error".to_string(),
                };
                let _ = t.latency.record((sent.elapsed().as_micros() as u64).max(1));
                *t.statuses.entry(key).or_default() += 1;
                if requests.is_some() {
                    bar.inc(1);
                } else {
                    bar.set_position(started.elapsed().as_secs());
                }
            }
            Ok(t)
        }));
    }
    let mut total = Tally::new();
    for w in workers {
        total.merge(&w.await.context("bench worker panicked")??);
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    Ok((total, elapsed))
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn percentiles(h: &Histogram<u64>) -> Value {
    json!({
        "count": h.len(),
        "p50": ms(h.value_at_quantile(0.5)),
        "p90": ms(h.value_at_quantile(0.9)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p999": ms(h.value_at_quantile(0.999)),
        "max": ms(h.max()),
        "mean": h.mean() / 1000.0,
    })
}

fn report(a: &BenchArgs, t: &Tally, elapsed: Duration, concurrency: usize) -> Value {
    let n = t.latency.len();
    let ok: u64 = t.statuses.iter().filter(|(k, _)| k.starts_with('2')).map(|(_, v)| v).sum();
    let server: serde_json::Map<String, Value> = PHASES
        .iter()
        .zip(&t.phases)
        .filter(|(_, h)| !h.is_empty())
        .map(|(p, h)| (p.to_string(), percentiles(h)))
        .collect();
    let mut v = json!({
        "target": a.target,
        "mode": if a.cold { "cold" } else { "warm" },
        "requests": n,
        "concurrency": concurrency,
        "elapsed_s": elapsed.as_secs_f64(),
        "requests_per_second": n as f64 / elapsed.as_secs_f64().max(1e-9),
        "latency_ms": percentiles(&t.latency),
        "server_ms": server,
        "statuses": t.statuses,
        "errors": n - ok,
    });
    if a.cold {
        let loaded = t.phases[1].len();
        v["cold"] = json!({
            "requests_that_loaded": loaded,
            "levels": {
                "compile": "paid at upload (PUT /v1/functions/{name}/code), never on the request path",
                "load": "server_ms.load: verify + deserialize + pre-link, after the eviction before each request",
                "instantiate": "server_ms.instantiate: fresh instance, paid by every request",
            }
        });
    }
    v
}

fn print_text(r: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    println!(
        "{} requests ({}), concurrency {}, {:.2} s: {:.0} req/s, {} errors",
        r["requests"],
        r["mode"].as_str().unwrap_or(""),
        r["concurrency"],
        f(&r["elapsed_s"]),
        f(&r["requests_per_second"]),
        r["errors"]
    );
    println!("{:<20}{:>10}{:>10}{:>10}{:>10}{:>10}", "latency (ms)", "p50", "p90", "p99", "p99.9", "max");
    let row = |name: &str, p: &Value| {
        println!(
            "{name:<20}{:>10.3}{:>10.3}{:>10.3}{:>10.3}{:>10.3}",
            f(&p["p50"]),
            f(&p["p90"]),
            f(&p["p99"]),
            f(&p["p999"]),
            f(&p["max"])
        )
    };
    row("client", &r["latency_ms"]);
    if let Some(server) = r["server_ms"].as_object() {
        for p in PHASES {
            if let Some(v) = server.get(p) {
                row(&format!("server {p}"), v);
            }
        }
    }
    if let Some(c) = r.get("cold") {
        println!("requests that paid the load: {} of {}", c["requests_that_loaded"], r["requests"]);
    }
    let statuses: Vec<String> =
        r["statuses"].as_object().into_iter().flatten().map(|(k, v)| format!("{k}: {v}")).collect();
    println!("by status: {}", statuses.join(", "));
}

/// Left: latency by percentile on a "nines" axis (the HDR-histogram view, where the tail
/// is as readable as the median). Right: p50 and p99 of each server-side phase next to
/// the client's latency, so where the time goes is visible at a glance.
fn plot(path: &std::path::Path, title: &str, t: &Tally, r: &Value) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (1200, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let heading = format!(
        "waygate bench {title} — {} requests, c={}, {:.0} req/s ({})",
        r["requests"],
        r["concurrency"],
        r["requests_per_second"].as_f64().unwrap_or(0.0),
        r["mode"].as_str().unwrap_or("")
    );
    let root = root.titled(&heading, ("sans-serif", 20)).map_err(|e| anyhow!("{e}"))?;
    let (left, right) = root.split_horizontally(680);

    // Percentile curve: x = -log10(1 - q), so 90 %, 99 %, 99.9 % are evenly spaced.
    let nines_max = 3.0_f64;
    let points: Vec<(f64, f64)> = (0..=300)
        .map(|i| {
            let x = nines_max * i as f64 / 300.0;
            let q = 1.0 - 10f64.powf(-x);
            (x, ms(t.latency.value_at_quantile(q)))
        })
        .collect();
    let ymax = points.iter().map(|p| p.1).fold(0.0, f64::max).max(0.001) * 1.1;
    let mut chart = ChartBuilder::on(&left)
        .caption("client latency by percentile", ("sans-serif", 16))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..nines_max, 0.0..ymax)
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_labels(4)
        .x_label_formatter(&|x| {
            let q = (1.0 - 10f64.powf(-x)) * 100.0;
            if q < 1.0 {
                "p0".into()
            } else {
                format!("p{}", (q * 10.0).round() / 10.0)
            }
        })
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    chart.draw_series(LineSeries::new(points, BLUE.stroke_width(2))).map_err(|e| anyhow!("{e}"))?;

    // Breakdown: p50 (solid) and p99 (light) per phase, client last.
    let mut bars: Vec<(String, f64, f64)> = PHASES
        .iter()
        .zip(&t.phases)
        .filter(|(_, h)| !h.is_empty())
        .map(|(p, h)| (p.to_string(), ms(h.value_at_quantile(0.5)), ms(h.value_at_quantile(0.99))))
        .collect();
    bars.push(("client".into(), ms(t.latency.value_at_quantile(0.5)), ms(t.latency.value_at_quantile(0.99))));
    let bmax = bars.iter().map(|b| b.2).fold(0.0, f64::max).max(0.001) * 1.15;
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    let mut chart = ChartBuilder::on(&right)
        .caption("where the time goes (p50 solid, p99 light)", ("sans-serif", 16))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..bars.len() as f64, 0.0..bmax)
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 0.01 {
                labels.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("ms")
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    let color = |i: usize| Palette99::pick(i).to_rgba();
    chart
        .draw_series(
            bars.iter().enumerate().map(|(i, b)| {
                Rectangle::new([(i as f64 + 0.15, 0.0), (i as f64 + 0.85, b.2)], color(i).mix(0.3).filled())
            }),
        )
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .draw_series(
            bars.iter()
                .enumerate()
                .map(|(i, b)| Rectangle::new([(i as f64 + 0.15, 0.0), (i as f64 + 0.85, b.1)], color(i).filled())),
        )
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .draw_series(
            bars.iter().enumerate().map(|(i, b)| {
                Text::new(format!("{:.3}", b.1), (i as f64 + 0.2, b.1 + bmax * 0.02), ("sans-serif", 13))
            }),
        )
        .map_err(|e| anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
