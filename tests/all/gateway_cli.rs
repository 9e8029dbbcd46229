//! The gateway driven from the `waygate` binary: api, route, deploy, stage, permission.

use crate::fixtures;
use crate::harness::{ok, waygate, TestServer};
use serde_json::{json, Value};
use std::process::Output;

fn ok_json(o: &Output) -> Value {
    let out = ok(o);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn fails_with(o: &Output, message: &str) {
    assert!(!o.status.success(), "expected a failure: {}", String::from_utf8_lossy(&o.stdout));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(message), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_route_deploy_stage_permission_from_the_cli() {
    let s = TestServer::start().await;
    s.deploy("f", json!({}), &fixtures::print(r#"{"statusCode":200,"body":"cli ok"}"#)).await;
    let s = std::sync::Arc::new(s);
    let s2 = s.clone();
    tokio::task::spawn_blocking(move || {
        let s = &s2;
        let http = reqwest::blocking::Client::new();
        let get = |url: &str| {
            let r = http.get(url).send().expect("gateway");
            let (st, v) = (r.status().as_u16(), r.headers().get("x-waygate-executed-version").cloned());
            (st, v.map(|v| v.to_str().unwrap().to_string()), r.text().unwrap())
        };
        ok(&waygate(s, &["version", "publish", "f"]));
        ok(&waygate(s, &["alias", "set", "f", "LIVE", "1"]));

        // `--output id`: only the id, for `ID=$(waygate api create …)` as the README does.
        let api = ok(&waygate(s, &["api", "create", "shop", "--description", "from the CLI", "--output", "id"]));
        let api = api.trim().to_string();
        assert!(api.len() == 10 && api.chars().all(|c| c.is_ascii_alphanumeric()), "{api:?}");
        let out = ok(&waygate(s, &["api", "list"]));
        assert!(out.contains(&api) && out.contains("shop"), "{out}");
        assert_eq!(ok(&waygate(s, &["api", "list", "--output", "id"])).trim(), api, "one id per line");
        let v = ok_json(&waygate(s, &["api", "get", &api, "--output", "json"]));
        assert_eq!(v["description"], "from the CLI");

        ok(&waygate(s, &["route", "put", &api, "GET", "/hello", "--function", "f:${stageVariables.alias}"]));
        ok(&waygate(s, &["route", "put", &api, "GET", "/mock", "--mock-status", "202", "--mock-body", "m"]));
        // Putting the same method and path again replaces the draft route, and says so.
        let again = waygate(s, &["route", "put", &api, "GET", "/mock", "--mock-status", "202", "--mock-body", "m"]);
        assert!(again.status.success());
        assert!(String::from_utf8_lossy(&again.stderr).contains("replaced the draft's existing GET /mock route"));
        fails_with(
            &waygate(s, &["route", "put", &api, "GET", "/{p+}/x", "--mock-status", "200"]),
            "Cannot create a child of a resource with a greedy path variable: {p+}",
        );
        let out = ok(&waygate(s, &["route", "list", &api]));
        assert!(out.contains("/hello") && out.contains("/mock"), "{out}");

        let d1 = ok(&waygate(s, &["deploy", &api, "--stage", "dev", "--output", "id"])).trim().to_string();
        let v = ok_json(&waygate(s, &["stage", "get", &api, "dev", "--output", "json"]));
        assert_eq!(v["deployment_id"], d1.as_str(), "deploy --output id prints the deployment's id");
        let out = ok(&waygate(s, &["stage", "get", &api, "dev"]));
        let url = format!("{}/{api}/dev", s.gateway);
        assert!(out.contains(&url), "stage get prints the invoke URL: {out}");
        let (st, _, body) = get(&format!("{url}/mock"));
        assert_eq!((st, body.as_str()), (202, "m"));
        // No alias variable yet: 500.
        assert_eq!(get(&format!("{url}/hello")).0, 500);
        ok(&waygate(s, &["stage", "set-var", &api, "dev", "alias=LIVE"]));
        // No permission yet: 500.
        assert_eq!(get(&format!("{url}/hello")).0, 500);
        let source = format!("{api}/*/*/*");
        let principal = format!("api:{api}");
        let add =
            ["permission", "add", "f", "s1", "--principal", &principal, "--source", &source, "--qualifier", "LIVE"];
        ok(&waygate(s, &add));
        fails_with(&waygate(s, &add), "The statement id (s1) provided already exists.");
        let (st, version, body) = get(&format!("{url}/hello"));
        assert_eq!((st, version.as_deref(), body.as_str()), (200, Some("1"), "cli ok"));
        let out = ok(&waygate(s, &["permission", "list", "f", "--qualifier", "LIVE"]));
        assert!(out.contains("s1"), "{out}");
        fails_with(
            &waygate(
                s,
                &[
                    "permission",
                    "add",
                    "f",
                    "s2",
                    "--principal",
                    &principal,
                    "--source",
                    &source,
                    "--qualifier",
                    "$LATEST",
                ],
            ),
            "We currently do not support adding policies for $LATEST.",
        );

        // Draft edit + deploy, then roll back with set-deployment.
        ok(&waygate(s, &["route", "put", &api, "GET", "/mock", "--mock-status", "200", "--mock-body", "m2"]));
        assert_eq!(get(&format!("{url}/mock")).2, "m");
        ok(&waygate(s, &["deploy", &api, "--stage", "dev"]));
        assert_eq!(get(&format!("{url}/mock")).2, "m2");
        ok(&waygate(s, &["stage", "set-deployment", &api, "dev", &d1]));
        assert_eq!(get(&format!("{url}/mock")).2, "m");

        // A second stage with put; list shows both.
        ok(&waygate(s, &["stage", "put", &api, "prod", "--deployment", &d1, "--var", "alias=LIVE"]));
        let again = waygate(s, &["stage", "put", &api, "prod", "--deployment", &d1, "--var", "alias=LIVE"]);
        assert!(String::from_utf8_lossy(&again.stderr).contains("note: stage prod existed"), "a replacement says so");
        let out = ok(&waygate(s, &["stage", "list", &api]));
        assert!(out.contains("dev") && out.contains("prod"), "{out}");
        assert_eq!(get(&format!("{}/{api}/prod/hello", s.gateway)).0, 200);

        ok(&waygate(s, &["stage", "remove-var", &api, "dev", "alias"]));
        assert_eq!(get(&format!("{url}/hello")).0, 500);
        ok(&waygate(s, &["permission", "remove", "f", "s1", "--qualifier", "LIVE"]));
        fails_with(
            &waygate(s, &["permission", "remove", "f", "s1", "--qualifier", "LIVE"]),
            "Statement s1 is not found in resource policy.",
        );
        assert_eq!(get(&format!("{}/{api}/prod/hello", s.gateway)).0, 500);

        ok(&waygate(s, &["stage", "delete", &api, "prod"]));
        assert_eq!(get(&format!("{}/{api}/prod/mock", s.gateway)).0, 403);
        let v = ok_json(&waygate(s, &["route", "list", &api, "--output", "json"]));
        let id = v["routes"][0]["id"].as_str().unwrap().to_string();
        ok(&waygate(s, &["route", "delete", &api, &id]));
        ok(&waygate(s, &["api", "delete", &api]));
        assert_eq!(get(&format!("{url}/mock")).0, 403);
        fails_with(&waygate(s, &["api", "get", &api]), "Invalid API identifier specified");
    })
    .await
    .unwrap();
}
