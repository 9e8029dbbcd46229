//! What SigV4 costs a management call: the same Lambda `Invoke` of the bundled `hello`
//! (`POST /2015-03-31/functions/hello/invocations`, same route, same handler), once with
//! the admin bearer token and once SigV4-signed with the admin's AWS credentials,
//! alternating rounds in one run.
//!
//! `cargo bench --bench sigv4` (env BENCH_ROUNDS, BENCH_ITERS). Reported: the process's
//! CPU time per request (`CLOCK_PROCESS_CPUTIME_ID`: server and client share the process,
//! and the client sends both kinds from pre-built headers, so the difference is the
//! server's verification), latency percentiles, and the verification alone
//! (`sigv4::parse` + `sigv4::verify`, in a loop).
mod common;
use common::{env_usize, Stats};

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use std::time::{Duration, Instant, SystemTime};
use waygate::platform::PlatformConfig;
use waygate::server::Server;

const EVENT: &str = r#"{"name":"bench"}"#;
const PATH: &str = "/2015-03-31/functions/hello/invocations";

fn cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a pointer to a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The signed headers of the benchmark's request, as an AWS SDK sends them.
fn signed_headers(host: &str, id: &str, secret: &str) -> Vec<(String, String)> {
    let identity = aws_credential_types::Credentials::new(id, secret, None, None, "bench").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("lambda")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .expect("params")
        .into();
    let headers = [("host", host), ("content-type", "application/json")];
    let signable = SignableRequest::new("POST", PATH, headers.into_iter(), SignableBody::Bytes(EVENT.as_bytes()))
        .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    let mut out: Vec<(String, String)> = vec![("content-type".into(), "application/json".into())];
    out.extend(instructions.headers().map(|(k, v)| (k.to_string(), v.to_string())));
    out
}

async fn send(client: &reqwest::Client, url: &str, headers: &[(String, String)]) {
    let mut r = client.post(format!("{url}{PATH}")).body(EVENT);
    for (k, v) in headers {
        r = r.header(k, v);
    }
    let r = r.send().await.expect("request");
    assert_eq!(r.status(), 200);
    r.bytes().await.expect("body");
}

/// `n` requests of each kind, alternating one by one (so drift and the deferred teardown of
/// the previous request's instance fall on both alike); per kind: latency and CPU time.
async fn run(
    client: &reqwest::Client,
    url: &str,
    kinds: [&[(String, String)]; 2],
    n: usize,
    out: &mut [(Stats, Duration); 2],
) {
    for _ in 0..n {
        for (k, headers) in kinds.iter().enumerate() {
            let cpu = cpu_time();
            let t = Instant::now();
            send(client, url, headers).await;
            out[k].0.hist.record(t.elapsed().as_nanos() as u64).ok();
            out[k].1 += cpu_time() - cpu;
        }
    }
}

fn main() {
    waygate_cli::tune_allocator();
    let rounds = env_usize("BENCH_ROUNDS", 5);
    let iters = env_usize("BENCH_ITERS", 2000);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let mut config = PlatformConfig::new(dir.path().join("server"));
        config.runtime.max_instances = 64;
        let any = "127.0.0.1:0".parse().expect("addr");
        let server = Server::start(config, any, any).await.expect("server");
        waygate::examples::register(&server.platform).await.expect("examples");
        let url = server.admin_url();
        let host = url.trim_start_matches("http://").to_string();
        let p = server.platform.clone();
        let bearer = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("authorization".to_string(), format!("Bearer {}", p.admin_token)),
        ];
        let client = reqwest::Client::builder().pool_max_idle_per_host(4).build().expect("client");
        let sig = |_: ()| signed_headers(&host, &p.admin_aws.access_key_id, &p.admin_aws.secret);
        let mut warm = [(Stats::new(), Duration::ZERO), (Stats::new(), Duration::ZERO)];
        run(&client, &url, [&bearer, &sig(())], 200, &mut warm).await;
        let mut out = [(Stats::new(), Duration::ZERO), (Stats::new(), Duration::ZERO)];
        for _ in 0..rounds {
            // Signed afresh each round: a signature is good for 5 minutes.
            let signed = sig(());
            run(&client, &url, [&bearer, &signed], iters, &mut out).await;
        }
        let [(a, cpu_a), (b, cpu_b)] = out;
        // The same with an API key (its AWS pair): both credentials are looked up in the
        // store per request, and the key's secret is unsealed for SigV4.
        let policy: waygate::model::policy::Policy =
            serde_json::from_value(serde_json::json!([{"effect": "allow", "actions": ["*"], "resources": ["*"]}]))
                .expect("policy");
        let (_, key) = waygate::ops::keys::create(&p, "bench".into(), policy, true).await.expect("key");
        let (key_id, key_secret) = key.aws.clone().expect("aws pair");
        let key_bearer = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("authorization".to_string(), format!("Bearer {}", key.bearer)),
        ];
        let mut keyed = [(Stats::new(), Duration::ZERO), (Stats::new(), Duration::ZERO)];
        run(&client, &url, [&key_bearer, &signed_headers(&host, &key_id, &key_secret)], 200, &mut warm).await;
        for _ in 0..rounds {
            let signed = signed_headers(&host, &key_id, &key_secret);
            run(&client, &url, [&key_bearer, &signed], iters, &mut keyed).await;
        }
        let [(ka, kcpu_a), (kb, kcpu_b)] = keyed;
        let n = a.hist.len() as f64;
        let (per_a, per_b) = (cpu_a.as_secs_f64() * 1e6 / n, cpu_b.as_secs_f64() * 1e6 / n);
        println!("Lambda Invoke of hello over loopback, sequential, alternating, {} requests each:", a.hist.len());
        println!("  admin bearer : CPU {per_a:6.1} µs/request  p50 {:7.1} µs  p99 {:7.1} µs", a.us(0.5), a.us(0.99));
        println!("  admin SigV4  : CPU {per_b:6.1} µs/request  p50 {:7.1} µs  p99 {:7.1} µs", b.us(0.5), b.us(0.99));
        println!(
            "  SigV4 - bearer: CPU {:+.1} µs/request (budget +15 µs), p50 {:+.1} µs; ratio CPU {:.3}×",
            per_b - per_a,
            b.us(0.5) - a.us(0.5),
            per_b / per_a
        );

        let kn = ka.hist.len() as f64;
        let (kper_a, kper_b) = (kcpu_a.as_secs_f64() * 1e6 / kn, kcpu_b.as_secs_f64() * 1e6 / kn);
        println!("The same with an API key's credentials (looked up per request):");
        println!("  key bearer   : CPU {kper_a:6.1} µs/request  p50 {:7.1} µs  p99 {:7.1} µs", ka.us(0.5), ka.us(0.99));
        println!("  key SigV4    : CPU {kper_b:6.1} µs/request  p50 {:7.1} µs  p99 {:7.1} µs", kb.us(0.5), kb.us(0.99));
        println!(
            "  SigV4 - bearer: CPU {:+.1} µs/request (budget +15 µs), p50 {:+.1} µs; ratio CPU {:.3}×",
            kper_b - kper_a,
            kb.us(0.5) - ka.us(0.5),
            kper_b / kper_a
        );

        // The verification alone.
        let signed = sig(());
        let mut headers = http::HeaderMap::new();
        headers.insert("host", host.parse().expect("host"));
        for (k, v) in &signed {
            headers.insert(http::HeaderName::from_bytes(k.as_bytes()).expect("name"), v.parse().expect("value"));
        }
        let uri: http::Uri = PATH.parse().expect("uri");
        let mut alone = Stats::new();
        let started = Instant::now();
        for _ in 0..iters * rounds {
            let t = Instant::now();
            let claim = waygate::control::aws::sigv4::parse(&uri, &headers).expect("claim");
            waygate::control::aws::sigv4::verify(
                &claim,
                &p.admin_aws.secret,
                "POST",
                &uri,
                &headers,
                EVENT.as_bytes(),
                time::OffsetDateTime::now_utc(),
            )
            .expect("verifies");
            alone.hist.record(t.elapsed().as_nanos() as u64).ok();
        }
        alone.elapsed = started.elapsed();
        println!(
            "  verification alone (parse + re-sign + compare): p50 {:.1} µs  p99 {:.1} µs",
            alone.us(0.5),
            alone.us(0.99)
        );

        // The management router in process (no sockets): GetFunctionConfiguration, the
        // same request with either credential, alternating.
        let app = waygate::control::app(p.clone());
        let get = "/2015-03-31/functions/hello/configuration";
        let signed_get = {
            let identity = aws_credential_types::Credentials::new(
                &p.admin_aws.access_key_id,
                &*p.admin_aws.secret,
                None,
                None,
                "b",
            )
            .into();
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region("us-east-1")
                .name("lambda")
                .time(SystemTime::now())
                .settings(SigningSettings::default())
                .build()
                .expect("params")
                .into();
            let signable =
                SignableRequest::new("GET", get, [("host", host.as_str())].into_iter(), SignableBody::Bytes(b""))
                    .expect("signable");
            let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
            instructions.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>()
        };
        let bearer_get = vec![("authorization".to_string(), format!("Bearer {}", p.admin_token))];
        let mut inproc = [Stats::new(), Stats::new()];
        for i in 0..(iters * rounds + 400) {
            for (k, headers) in [&bearer_get, &signed_get].into_iter().enumerate() {
                let mut req = http::Request::get(get).header("host", host.as_str());
                for (n, v) in headers {
                    req = req.header(n, v);
                }
                let req = req.body(axum::body::Body::empty()).expect("request");
                let t = Instant::now();
                let resp = tower::ServiceExt::oneshot(app.clone(), req).await.expect("infallible");
                assert_eq!(resp.status(), 200);
                if i >= 400 {
                    inproc[k].hist.record(t.elapsed().as_nanos() as u64).ok();
                }
            }
        }
        println!(
            "GetFunctionConfiguration through the management router in process, {} calls each:",
            inproc[0].hist.len()
        );
        println!("  bearer token : p50 {:6.1} µs  p99 {:6.1} µs", inproc[0].us(0.5), inproc[0].us(0.99));
        println!("  SigV4        : p50 {:6.1} µs  p99 {:6.1} µs", inproc[1].us(0.5), inproc[1].us(0.99));
        println!("  SigV4 - bearer: p50 {:+.1} µs", inproc[1].us(0.5) - inproc[0].us(0.5));
        let mut auth = Stats::new();
        for _ in 0..iters {
            let mut req = http::Request::get(get).header("host", host.as_str());
            for (n, v) in &signed_get {
                req = req.header(n, v);
            }
            let req = req.body(axum::body::Body::empty()).expect("request");
            let t = Instant::now();
            waygate::control::aws::authenticate(&p, req).await.expect("authenticates");
            auth.hist.record(t.elapsed().as_nanos() as u64).ok();
        }
        println!("  aws::authenticate alone: p50 {:6.1} µs  p99 {:6.1} µs", auth.us(0.5), auth.us(0.99));

        // GetFunctionConfiguration over HTTP (no body), alternating.
        let mut get_out = [(Stats::new(), Duration::ZERO), (Stats::new(), Duration::ZERO)];
        for _ in 0..(iters * rounds) {
            for (k, headers) in [&bearer_get, &signed_get].into_iter().enumerate() {
                let cpu = cpu_time();
                let t = Instant::now();
                let mut r = client.get(format!("{url}{get}"));
                for (n, v) in headers {
                    r = r.header(n, v);
                }
                let r = r.send().await.expect("request");
                assert_eq!(r.status(), 200);
                r.bytes().await.expect("body");
                get_out[k].0.hist.record(t.elapsed().as_nanos() as u64).ok();
                get_out[k].1 += cpu_time() - cpu;
            }
        }
        let gn = get_out[0].0.hist.len() as f64;
        let (g_a, g_b) = (get_out[0].1.as_secs_f64() * 1e6 / gn, get_out[1].1.as_secs_f64() * 1e6 / gn);
        println!("GetFunctionConfiguration over loopback (no body), {} requests each:", get_out[0].0.hist.len());
        println!(
            "  SigV4 - bearer: CPU {:+.1} µs/request ({g_a:.1} → {g_b:.1}), p50 {:+.1} µs",
            g_b - g_a,
            get_out[1].0.us(0.5) - get_out[0].0.us(0.5)
        );
        server.shutdown().await;
    });
}
