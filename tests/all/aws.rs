//! The AWS-compatible API at the protocol level: SigV4-signed requests (signed here as the
//! AWS SDK for Rust signs them, with `aws-sigv4`) against Lambda's 2015-03-31 paths,
//! shapes compared field by field with AWS's documented responses. The real clients
//! (aws-cli, boto3) drive the same API in `aws_clients.rs`.

use crate::fixtures;
use crate::harness::TestServer;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A SigV4 client for one access key pair.
pub struct Aws {
    url: String,
    pub access_key_id: String,
    secret: String,
    http: reqwest::Client,
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }
    /// The exception botocore would raise: `x-amzn-errortype`.
    pub fn error_type(&self) -> String {
        self.header("x-amzn-errortype").unwrap_or_default()
    }
}

/// The admin pair `waygate up` wrote to DATA_DIR/aws-credentials.
pub fn admin_credentials(s: &TestServer) -> (String, String) {
    let text = std::fs::read_to_string(s.data().join("aws-credentials")).expect("aws-credentials");
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.split_once('=').filter(|(a, _)| a.trim() == k).map(|(_, v)| v.trim().to_string()))
            .expect(k)
    };
    (field("aws_access_key_id"), field("aws_secret_access_key"))
}

impl Aws {
    pub fn admin(s: &TestServer) -> Aws {
        let (id, secret) = admin_credentials(s);
        Aws::new(s, &id, &secret)
    }

    pub fn new(s: &TestServer, access_key_id: &str, secret: &str) -> Aws {
        Aws {
            url: s.url.clone(),
            access_key_id: access_key_id.into(),
            secret: secret.into(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        self.send(method, path, body, &[], SystemTime::now(), "us-east-1").await
    }

    /// Signs (at `at`, for `region`) and sends; `headers` are sent and signed.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
        at: SystemTime,
        region: &str,
    ) -> Answer {
        let host = self.url.trim_start_matches("http://").to_string();
        let mut pairs: Vec<(String, String)> =
            vec![("host".into(), host), ("content-type".into(), "application/json".into())];
        pairs.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let identity =
            aws_credential_types::Credentials::new(&self.access_key_id, &self.secret, None, None, "t").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(if path.starts_with("/restapis") { "apigateway" } else { "lambda" })
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            method.as_str(),
            path,
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(&body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut r = self.http.request(method, format!("{}{path}", self.url)).body(body);
        for (k, v) in pairs.iter().filter(|(k, _)| k != "host") {
            r = r.header(k, v);
        }
        for (k, v) in instructions.headers() {
            r = r.header(k, v);
        }
        let resp = r.send().await.expect("request");
        Answer {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.bytes().await.unwrap().to_vec(),
        }
    }
}

/// `files` zipped, as `aws lambda create-function --zip-file fileb://app.zip` sends them.
pub fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

pub fn sha256_b64(bytes: &[u8]) -> String {
    use sha2::Digest;
    B64.encode(sha2::Sha256::digest(bytes))
}

#[tokio::test]
async fn signatures_are_verified_and_failures_answer_as_aws_does() {
    let s = TestServer::start().await;
    // The credentials file is the admin's, private to the owner.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.data().join("aws-credentials")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let aws = Aws::admin(&s);
    assert!(aws.access_key_id.starts_with("AKWG") && aws.access_key_id.len() == 20, "{}", aws.access_key_id);
    let ok = aws.call(Method::GET, "/2015-03-31/functions/", None).await;
    assert_eq!((ok.status, ok.json()), (200, json!({ "Functions": [] })));

    // Wrong secret.
    let wrong = Aws::new(&s, &aws.access_key_id, "not-the-secret");
    let r = wrong.call(Method::GET, "/2015-03-31/functions/", None).await;
    assert_eq!((r.status, r.error_type().as_str()), (403, "InvalidSignatureException"), "{:?}", r.json());
    assert!(r.json()["message"].as_str().unwrap().contains("does not match the signature you provided"));
    assert_eq!(r.json()["Type"], "User");
    // Unknown key id.
    let r = Aws::new(&s, "AKWGAAAAAAAAAAAAAAAA", "x").call(Method::GET, "/2015-03-31/functions/", None).await;
    assert_eq!((r.status, r.error_type().as_str()), (403, "UnrecognizedClientException"));
    assert_eq!(r.json()["message"], "The security token included in the request is invalid.");
    // Signed 10 minutes ago (outside the 5-minute window), or 10 minutes ahead.
    for (at, text) in [
        (SystemTime::now() - Duration::from_secs(600), "Signature expired"),
        (SystemTime::now() + Duration::from_secs(600), "Signature not yet current"),
    ] {
        let r = aws.send(Method::GET, "/2015-03-31/functions/", Vec::new(), &[], at, "us-east-1").await;
        assert_eq!((r.status, r.error_type().as_str()), (403, "InvalidSignatureException"));
        assert!(r.json()["message"].as_str().unwrap().starts_with(text), "{:?}", r.json());
    }
    // Another region's scope.
    let r = aws.send(Method::GET, "/2015-03-31/functions/", Vec::new(), &[], SystemTime::now(), "eu-west-1").await;
    assert_eq!((r.status, r.error_type().as_str()), (403, "InvalidSignatureException"));
    assert!(r.json()["message"].as_str().unwrap().contains("us-east-1"));
    // A body changed after signing: re-sent by hand with the signed headers.
    let body = json!({ "Name": "x", "FunctionVersion": "1" }).to_string();
    let signed = {
        let host = s.url.trim_start_matches("http://").to_string();
        let (id, secret) = admin_credentials(&s);
        let identity = aws_credential_types::Credentials::new(&id, &secret, None, None, "t").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("lambda")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            "POST",
            "/2015-03-31/functions/f/aliases",
            [("host", host.as_str())].into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .unwrap();
        sign(signable, &params).unwrap().into_parts().0
    };
    let mut r = reqwest::Client::new()
        .post(format!("{}/2015-03-31/functions/f/aliases", s.url))
        .body(body.replace("\"1\"", "\"2\""));
    for (k, v) in signed.headers() {
        r = r.header(k, v);
    }
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-amzn-errortype"], "InvalidSignatureException");

    // No credentials at all on an AWS path: AWS's answer, not a bearer hint.
    let r = reqwest::get(format!("{}/2015-03-31/functions/", s.url)).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-amzn-errortype"], "MissingAuthenticationTokenException");
    // A malformed Authorization header.
    let r = reqwest::Client::new()
        .get(format!("{}/2015-03-31/functions/", s.url))
        .header("authorization", "AWS4-HMAC-SHA256 Credential=AKWG/20260101/us-east-1/lambda/aws4_request")
        .header("x-amz-date", "20260101T000000Z")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["x-amzn-errortype"], "IncompleteSignatureException");

    // The admin pair also works on /v1 (one authorization path).
    let r = aws.call(Method::GET, "/v1/functions", None).await;
    assert_eq!(r.status, 200, "{:?}", r.json());

    // Outside the subset: 501, naming the operation.
    let r = aws
        .call(Method::GET, "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af", None)
        .await;
    assert_eq!((r.status, r.error_type().as_str()), (501, "UnsupportedOperationException"));
    assert!(r.json()["message"].as_str().unwrap().contains("ListTags"), "{:?}", r.json());
    // A known path with a method the subset lacks: 501 too.
    let r = aws.call(Method::PATCH, "/2015-03-31/functions/f", None).await;
    assert_eq!((r.status, r.error_type().as_str()), (501, "UnsupportedOperationException"));
}

/// The Lambda subset end to end with field-by-field shapes: create (zip, Publish), get,
/// configuration, versions with CodeSha256 and RevisionId preconditions, aliases with
/// weights, invoke in all three types, concurrency, the resource policy, deletes.
#[tokio::test]
async fn lambda_functions_versions_aliases_and_invocations() {
    let s = TestServer::start_with(|c| c.event_retry_delay = Duration::from_millis(50)).await;
    let aws = Aws::admin(&s);
    let wasm = wat::parse_str(fixtures::echo()).unwrap();
    let package = zip(&[("README", b"not code"), ("echo.wasm", &wasm)]);
    let create = json!({
        "FunctionName": "orders",
        "Runtime": "provided.al2023",
        "Role": "arn:aws:iam::000000000000:role/lambda-role",
        "Handler": "bootstrap",
        "Code": { "ZipFile": B64.encode(&package) },
        "Description": "orders service",
        "Timeout": 5,
        "MemorySize": 256,
        "Environment": { "Variables": { "STAGE": "dev" } },
        "Publish": true,
    });
    let r = aws.call(Method::POST, "/2015-03-31/functions", Some(create.clone())).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let c = r.json();
    let arn = "arn:aws:lambda:us-east-1:000000000000:function:orders";
    for (field, want) in [
        ("FunctionName", json!("orders")),
        ("FunctionArn", json!(format!("{arn}:1"))),
        ("Runtime", json!("provided.al2023")),
        ("Role", json!("arn:aws:iam::000000000000:role/lambda-role")),
        ("Handler", json!("bootstrap")),
        ("CodeSize", json!(wasm.len())),
        ("CodeSha256", json!(sha256_b64(&package))),
        ("Description", json!("orders service")),
        ("Timeout", json!(5)),
        ("MemorySize", json!(256)),
        ("Version", json!("1")),
        ("Environment", json!({ "Variables": { "STAGE": "dev" } })),
        ("State", json!("Active")),
        ("LastUpdateStatus", json!("Successful")),
        ("PackageType", json!("Zip")),
    ] {
        assert_eq!(c[field], want, "{field}: {c}");
    }
    assert!(c["RevisionId"].is_string() && c["LastModified"].as_str().unwrap().ends_with("+0000"), "{c}");
    // The /v1 twin sees the same function.
    let (status, v) = s.call(Method::GET, "/v1/functions/orders", None).await;
    assert_eq!((status, v["config"]["memory_mb"].clone()), (200, json!(256)));

    // Again: 409; a broken package: 400, and nothing stored.
    let r = aws.call(Method::POST, "/2015-03-31/functions", Some(create.clone())).await;
    assert_eq!((r.status, r.error_type().as_str()), (409, "ResourceConflictException"));
    let mut bad = create.clone();
    bad["FunctionName"] = json!("broken");
    bad["Code"]["ZipFile"] = json!(B64.encode(zip(&[("a.txt", b"x")])));
    let r = aws.call(Method::POST, "/2015-03-31/functions", Some(bad.clone())).await;
    assert_eq!((r.status, r.error_type().as_str()), (400, "InvalidParameterValueException"));
    bad["Code"]["ZipFile"] = json!(B64.encode(b"\0asm\x01\0\0\0garbage"));
    let r = aws.call(Method::POST, "/2015-03-31/functions", Some(bad)).await;
    assert_eq!(r.status, 400, "{:?}", r.json());
    let r = aws.call(Method::GET, "/2015-03-31/functions/broken", None).await;
    assert_eq!((r.status, r.error_type().as_str()), (404, "ResourceNotFoundException"));
    assert_eq!(r.json()["message"], "Function not found: arn:aws:lambda:us-east-1:000000000000:function:broken");

    // GetFunction by name, ARN and qualifier.
    let r = aws.call(Method::GET, &format!("/2015-03-31/functions/{}", "orders"), None).await;
    assert_eq!(r.json()["Configuration"]["Version"], "$LATEST");
    assert_eq!(r.json()["Configuration"]["FunctionArn"], arn);
    let r = aws
        .call(
            Method::GET,
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Aorders%3A1/configuration",
            None,
        )
        .await;
    assert_eq!((r.status, r.json()["Version"].clone()), (200, json!("1")), "{:?}", r.json());

    // UpdateFunctionConfiguration: a stale RevisionId is 412; the current one works.
    let r = aws
        .call(
            Method::PUT,
            "/2015-03-31/functions/orders/configuration",
            Some(json!({ "Timeout": 7, "RevisionId": "stale" })),
        )
        .await;
    assert_eq!((r.status, r.error_type().as_str()), (412, "PreconditionFailedException"));
    let rev =
        aws.call(Method::GET, "/2015-03-31/functions/orders/configuration", None).await.json()["RevisionId"].clone();
    let r = aws
        .call(
            Method::PUT,
            "/2015-03-31/functions/orders/configuration",
            Some(json!({ "Timeout": 7, "RevisionId": rev })),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["Timeout"].clone(), r.json()["Handler"].clone()),
        (200, json!(7), json!("bootstrap"))
    );
    let r = aws.call(Method::PUT, "/2015-03-31/functions/orders/configuration", Some(json!({ "Timeout": 901 }))).await;
    assert_eq!((r.status, r.error_type().as_str()), (400, "InvalidParameterValueException"));
    let r = aws.call(Method::PUT, "/2015-03-31/functions/orders/configuration", Some(json!({ "Layers": [] }))).await;
    assert_eq!(r.status, 400, "unknown fields are refused, not ignored: {:?}", r.json());

    // UpdateFunctionCode with the raw module (no zip) and PublishVersion's preconditions.
    let print = wat::parse_str(fixtures::print("v2")).unwrap();
    let r = aws
        .call(Method::PUT, "/2015-03-31/functions/orders/code", Some(json!({ "ZipFile": B64.encode(&print) })))
        .await;
    assert_eq!((r.status, r.json()["CodeSha256"].clone()), (200, json!(sha256_b64(&print))), "{:?}", r.json());
    let r = aws
        .call(
            Method::POST,
            "/2015-03-31/functions/orders/versions",
            Some(json!({ "CodeSha256": sha256_b64(&package) })),
        )
        .await;
    assert_eq!((r.status, r.error_type().as_str()), (400, "InvalidParameterValueException"));
    assert!(r.json()["message"].as_str().unwrap().starts_with("CodeSHA256 ("), "{:?}", r.json());
    let r =
        aws.call(Method::POST, "/2015-03-31/functions/orders/versions", Some(json!({ "RevisionId": "stale" }))).await;
    assert_eq!(r.status, 412);
    let r = aws
        .call(
            Method::POST,
            "/2015-03-31/functions/orders/versions",
            Some(json!({ "CodeSha256": sha256_b64(&print), "Description": "two" })),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let v2 = r.json();
    for (field, want) in [
        ("FunctionName", json!("orders")),
        ("FunctionArn", json!(format!("{arn}:2"))),
        ("Version", json!("2")),
        ("Description", json!("two")),
        ("CodeSha256", json!(sha256_b64(&print))),
        ("CodeSize", json!(print.len())),
        ("Runtime", json!("provided.al2023")),
        ("Handler", json!("bootstrap")),
        ("Timeout", json!(7)),
        ("MemorySize", json!(256)),
        ("Environment", json!({ "Variables": { "STAGE": "dev" } })),
        ("State", json!("Active")),
    ] {
        assert_eq!(v2[field], want, "{field}: {v2}");
    }
    // Nothing changed since: the same version again, as Lambda answers.
    let r = aws.call(Method::POST, "/2015-03-31/functions/orders/versions", None).await;
    assert_eq!(r.json()["Version"], "2");

    // ListVersionsByFunction, one per page: $LATEST, 1, 2.
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..5 {
        let path = match &marker {
            Some(m) => format!("/2015-03-31/functions/orders/versions?MaxItems=1&Marker={}", urlencode(m)),
            None => "/2015-03-31/functions/orders/versions?MaxItems=1".into(),
        };
        let v = aws.call(Method::GET, &path, None).await.json();
        seen.extend(v["Versions"].as_array().unwrap().iter().map(|x| x["Version"].as_str().unwrap().to_string()));
        marker = v["NextMarker"].as_str().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["$LATEST", "1", "2"]);
    let r = aws.call(Method::GET, "/2015-03-31/functions/orders/versions?MaxItems=0", None).await;
    assert_eq!(r.status, 400);

    // Aliases: create (weighted), duplicate, get, update, list.
    let alias = json!({ "Name": "live", "FunctionVersion": "1", "RoutingConfig": { "AdditionalVersionWeights": { "2": 0.25 } } });
    let r = aws.call(Method::POST, "/2015-03-31/functions/orders/aliases", Some(alias.clone())).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let a = r.json();
    assert_eq!(a["AliasArn"], format!("{arn}:live"));
    assert_eq!((a["Name"].clone(), a["FunctionVersion"].clone()), (json!("live"), json!("1")));
    assert_eq!(a["RoutingConfig"], json!({ "AdditionalVersionWeights": { "2": 0.25 } }));
    assert!(a["RevisionId"].is_string());
    let r = aws.call(Method::POST, "/2015-03-31/functions/orders/aliases", Some(alias)).await;
    assert_eq!((r.status, r.error_type().as_str()), (409, "ResourceConflictException"));
    let r = aws
        .call(
            Method::POST,
            "/2015-03-31/functions/orders/aliases",
            Some(json!({ "Name": "x", "FunctionVersion": "9" })),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = aws
        .call(
            Method::PUT,
            "/2015-03-31/functions/orders/aliases/live",
            Some(json!({ "RoutingConfig": { "AdditionalVersionWeights": {} } })),
        )
        .await;
    assert_eq!((r.status, r.json()["FunctionVersion"].clone()), (200, json!("1")), "{:?}", r.json());
    assert!(r.json().get("RoutingConfig").is_none(), "{:?}", r.json());
    let r = aws
        .call(Method::PUT, "/2015-03-31/functions/orders/aliases/nope", Some(json!({ "FunctionVersion": "1" })))
        .await;
    assert_eq!(r.status, 404);
    let r = aws.call(Method::GET, "/2015-03-31/functions/orders/aliases", None).await;
    assert_eq!(r.json()["Aliases"].as_array().unwrap().len(), 1);

    // Invoke: RequestResponse through the alias, with the log tail.
    let r = aws
        .send(
            Method::POST,
            "/2015-03-31/functions/orders/invocations?Qualifier=live",
            b"{\"a\":1}".to_vec(),
            &[("x-amz-log-type", "Tail")],
            SystemTime::now(),
            "us-east-1",
        )
        .await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"{\"a\":1}"[..]));
    assert_eq!(r.header("x-amz-executed-version").as_deref(), Some("1"));
    let log = String::from_utf8(B64.decode(r.header("x-amz-log-result").unwrap()).unwrap()).unwrap();
    assert!(log.starts_with("START RequestId: ") && log.contains("REPORT RequestId: "), "{log}");
    assert!(r.header("x-amz-function-error").is_none());
    // DryRun: 204; a missing qualifier: 404.
    let r = aws
        .send(
            Method::POST,
            "/2015-03-31/functions/orders:live/invocations",
            Vec::new(),
            &[("x-amz-invocation-type", "DryRun")],
            SystemTime::now(),
            "us-east-1",
        )
        .await;
    assert_eq!(r.status, 204);
    let r = aws
        .send(
            Method::POST,
            "/2015-03-31/functions/orders:nope/invocations",
            Vec::new(),
            &[("x-amz-invocation-type", "DryRun")],
            SystemTime::now(),
            "us-east-1",
        )
        .await;
    assert_eq!(r.status, 404);
    // A function error: 200 with X-Amz-Function-Error.
    let exit = wat::parse_str(fixtures::exit(3)).unwrap();
    let r = aws
        .call(
            Method::POST,
            "/2015-03-31/functions",
            Some(json!({ "FunctionName": "crash", "Code": { "ZipFile": B64.encode(&exit) } })),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let r = aws.call(Method::POST, "/2015-03-31/functions/crash/invocations", Some(json!({}))).await;
    assert_eq!((r.status, r.header("x-amz-function-error").as_deref()), (200, Some("Unhandled")));
    assert!(r.json()["errorType"].is_string(), "{:?}", r.json());
    // Event: 202 at once; the failing function runs three times (Lambda's two retries),
    // each attempt in the logs under the same request id.
    let r = aws
        .send(
            Method::POST,
            "/2015-03-31/functions/crash/invocations",
            b"{}".to_vec(),
            &[("x-amz-invocation-type", "Event")],
            SystemTime::now(),
            "us-east-1",
        )
        .await;
    assert_eq!(r.status, 202);
    let id = r.header("x-amzn-requestid").unwrap();
    let mut starts = 0;
    for _ in 0..200 {
        let (_, logs) = s.call(Method::GET, "/v1/functions/crash/logs", None).await;
        starts = logs["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["request_id"] == id.as_str() && e["message"].as_str().unwrap().starts_with("START"))
            .count();
        if starts == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(starts, 3, "one attempt and two retries");
    let r = aws
        .send(
            Method::POST,
            "/2015-03-31/functions/orders/invocations",
            Vec::new(),
            &[("x-amz-invocation-type", "Sometimes")],
            SystemTime::now(),
            "us-east-1",
        )
        .await;
    assert_eq!(r.status, 400);

    // Concurrency.
    let r = aws
        .call(
            Method::PUT,
            "/2017-10-31/functions/orders/concurrency",
            Some(json!({ "ReservedConcurrentExecutions": 2 })),
        )
        .await;
    assert_eq!((r.status, r.json()), (200, json!({ "ReservedConcurrentExecutions": 2 })));
    let r = aws.call(Method::GET, "/2019-09-30/functions/orders/concurrency", None).await;
    assert_eq!(r.json(), json!({ "ReservedConcurrentExecutions": 2 }));
    let r = aws.call(Method::DELETE, "/2017-10-31/functions/orders/concurrency", None).await;
    assert_eq!(r.status, 204);
    assert_eq!(aws.call(Method::GET, "/2019-09-30/functions/orders/concurrency", None).await.json(), json!({}));

    // The resource policy, mapped onto Waygate's permissions.
    let source = "arn:aws:execute-api:us-east-1:000000000000:a1b2c3d4e5/prod/GET/orders";
    let add = json!({ "StatementId": "apigw", "Action": "lambda:InvokeFunction", "Principal": "apigateway.amazonaws.com", "SourceArn": source });
    let r = aws.call(Method::POST, "/2015-03-31/functions/orders/policy?Qualifier=live", Some(add.clone())).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let st: Value = serde_json::from_str(r.json()["Statement"].as_str().unwrap()).unwrap();
    assert_eq!(st["Condition"]["ArnLike"]["AWS:SourceArn"], source);
    assert_eq!(st["Resource"], format!("{arn}:live"));
    let (_, perms) = s.call(Method::GET, "/v1/functions/orders/permissions?qualifier=live", None).await;
    assert_eq!(perms["statements"][0]["principal"], "api:a1b2c3d4e5", "{perms}");
    let r = aws.call(Method::POST, "/2015-03-31/functions/orders/policy?Qualifier=live", Some(add)).await;
    assert_eq!(r.status, 409);
    let r = aws.call(Method::GET, "/2015-03-31/functions/orders/policy?Qualifier=live", None).await;
    let policy: Value = serde_json::from_str(r.json()["Policy"].as_str().unwrap()).unwrap();
    assert_eq!(policy["Statement"][0]["Sid"], "apigw");
    let r = aws.call(Method::DELETE, "/2015-03-31/functions/orders/policy/apigw?Qualifier=live", None).await;
    assert_eq!(r.status, 204);
    let r = aws.call(Method::GET, "/2015-03-31/functions/orders/policy?Qualifier=live", None).await;
    assert_eq!((r.status, r.error_type().as_str()), (404, "ResourceNotFoundException"));

    // Deletes: a version an alias uses is refused; $LATEST alone is refused; the function goes.
    let r = aws.call(Method::DELETE, "/2015-03-31/functions/orders?Qualifier=1", None).await;
    assert_eq!(r.status, 409, "{:?}", r.json());
    let r = aws.call(Method::DELETE, "/2015-03-31/functions/orders?Qualifier=2", None).await;
    assert_eq!(r.status, 204);
    let r = aws.call(Method::DELETE, "/2015-03-31/functions/orders:$LATEST", None).await;
    assert_eq!(r.status, 400);
    let r = aws.call(Method::DELETE, "/2015-03-31/functions/orders/aliases/live", None).await;
    assert_eq!(r.status, 204);
    let r = aws.call(Method::DELETE, "/2015-03-31/functions/orders", None).await;
    assert_eq!(r.status, 204);
    let r = aws.call(Method::GET, "/2015-03-31/functions/orders", None).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn list_functions_pages_with_markers() {
    let s = TestServer::start().await;
    let aws = Aws::admin(&s);
    let wasm = B64.encode(wat::parse_str(fixtures::echo()).unwrap());
    for i in 0..5 {
        let r = aws
            .call(
                Method::POST,
                "/2015-03-31/functions",
                Some(json!({ "FunctionName": format!("f{i}"), "Code": { "ZipFile": wasm } })),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let mut names = Vec::new();
    let mut path = "/2015-03-31/functions/?MaxItems=2".to_string();
    loop {
        let v = aws.call(Method::GET, &path, None).await.json();
        let page = v["Functions"].as_array().unwrap();
        assert!(page.len() <= 2);
        names.extend(page.iter().map(|f| f["FunctionName"].as_str().unwrap().to_string()));
        match v["NextMarker"].as_str() {
            Some(m) => path = format!("/2015-03-31/functions/?MaxItems=2&Marker={}", urlencode(m)),
            None => break,
        }
    }
    assert_eq!(names, ["f0", "f1", "f2", "f3", "f4"]);
}

/// An API key with AWS credentials: its policy applies to SigV4 calls exactly as to
/// bearer calls (one authorization path); a revoked key is unrecognized at once.
#[tokio::test]
async fn a_dev_scoped_aws_key_is_refused_on_prod() {
    let s = TestServer::start().await;
    let aws = Aws::admin(&s);
    let wasm = B64.encode(wat::parse_str(fixtures::echo()).unwrap());
    let r = aws
        .call(
            Method::POST,
            "/2015-03-31/functions",
            Some(json!({ "FunctionName": "orders", "Code": { "ZipFile": wasm }, "Publish": true })),
        )
        .await;
    assert_eq!(r.status, 201);
    for a in ["dev", "prod"] {
        let r = aws
            .call(
                Method::POST,
                "/2015-03-31/functions/orders/aliases",
                Some(json!({ "Name": a, "FunctionVersion": "1" })),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let policy = json!([{"effect": "allow", "actions": ["function:Invoke", "function:Read"], "resources": ["function/orders/alias/dev", "function/orders"]}]);
    let (status, key) =
        s.call(Method::POST, "/v1/keys", Some(json!({ "name": "ci-dev", "policy": policy, "aws": true }))).await;
    assert_eq!(status, 201, "{key}");
    let (id, secret) = (key["access_key_id"].as_str().unwrap(), key["secret_access_key"].as_str().unwrap());
    assert!(id.starts_with("AKWG") && secret.len() == 40, "{key}");
    // Listed with its id, never its secret; the secret is sealed in the database.
    let (_, keys) = s.call(Method::GET, "/v1/keys", None).await;
    assert_eq!(keys["keys"][0]["access_key_id"], id);
    assert!(!keys.to_string().contains(secret));
    // (The embedded store's file; the shared store keeps the same sealed columns.)
    if let Ok(db) = std::fs::read(s.data().join("waygate.db")) {
        assert!(!db.windows(secret.len()).any(|w| w == secret.as_bytes()), "the secret is not stored in plaintext");
    }

    let dev = Aws::new(&s, id, secret);
    let r = dev.call(Method::POST, "/2015-03-31/functions/orders:dev/invocations", Some(json!({"x": 1}))).await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let r = dev.call(Method::POST, "/2015-03-31/functions/orders/invocations?Qualifier=prod", Some(json!({}))).await;
    assert_eq!((r.status, r.error_type().as_str()), (403, "AccessDeniedException"));
    assert!(r.json()["message"].as_str().unwrap().contains("function:Invoke on function/orders/alias/prod"));
    let r = dev
        .call(
            Method::POST,
            "/2015-03-31/functions/orders/aliases",
            Some(json!({ "Name": "x", "FunctionVersion": "1" })),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(
        r.json()["message"].as_str().unwrap().contains("alias:Update on function/orders/alias/x"),
        "{:?}",
        r.json()
    );
    let r = dev.call(Method::GET, "/2015-03-31/functions/orders", None).await;
    assert_eq!(r.status, 200);
    // The same key's bearer value has the same rights.
    let bearer = key["key"].as_str().unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/2015-03-31/functions/orders:prod/invocations", s.url))
        .bearer_auth(bearer)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A key created without `aws` has no AWS credentials.
    let (_, plain) = s.call(Method::POST, "/v1/keys", Some(json!({ "name": "plain", "policy": policy }))).await;
    assert!(plain.get("access_key_id").is_none(), "{plain}");
    // Revoked: unrecognized on the next request.
    let (status, _) = s.call(Method::DELETE, "/v1/keys/ci-dev", None).await;
    assert_eq!(status, 204);
    let r = dev.call(Method::GET, "/2015-03-31/functions/orders", None).await;
    assert_eq!((r.status, r.error_type().as_str()), (403, "UnrecognizedClientException"));
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// API Gateway's REST API end to end, shapes field by field: an API built from resources,
/// methods and an `AWS_PROXY` integration with `${stageVariables.alias}`, deployed to dev
/// and prod with variables, served at the stages' invoke URLs, a canary moved and promoted
/// with patch operations, the cache switched on and flushed.
#[tokio::test]
async fn api_gateway_resources_deployments_and_stages() {
    let s = TestServer::start().await;
    let aws = Aws::admin(&s);
    let wasm = B64.encode(wat::parse_str(fixtures::print(r#"{"statusCode":200,"body":"hi"}"#)).unwrap());
    let r = aws
        .call(
            Method::POST,
            "/2015-03-31/functions",
            Some(json!({ "FunctionName": "orders", "Code": { "ZipFile": wasm }, "Publish": true })),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    for (alias, version) in [("dev", "$LATEST"), ("prod", "1")] {
        let r = aws
            .call(
                Method::POST,
                "/2015-03-31/functions/orders/aliases",
                Some(json!({ "Name": alias, "FunctionVersion": version })),
            )
            .await;
        assert_eq!(r.status, 201);
    }

    // CreateRestApi.
    let r = aws.call(Method::POST, "/restapis", Some(json!({ "name": "shop", "description": "the shop" }))).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let api = r.json();
    let id = api["id"].as_str().unwrap().to_string();
    assert_eq!((api["name"].clone(), api["description"].clone()), (json!("shop"), json!("the shop")));
    assert!(api["createdDate"].is_i64() && api["rootResourceId"].as_str().unwrap().len() == 10, "{api}");
    let root = api["rootResourceId"].as_str().unwrap().to_string();
    let r = aws.call(Method::GET, "/restapis", None).await;
    assert_eq!(r.json()["item"][0]["id"], id.as_str());

    // Resources: /orders/{id}; a second variable at the same level is refused.
    let r = aws
        .call(Method::POST, &format!("/restapis/{id}/resources/{root}"), Some(json!({ "pathPart": "orders" })))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let orders = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!((r.json()["path"].clone(), r.json()["parentId"].clone()), (json!("/orders"), json!(root)));
    let r = aws
        .call(Method::POST, &format!("/restapis/{id}/resources/{orders}"), Some(json!({ "pathPart": "{id}" })))
        .await;
    assert_eq!(r.status, 201);
    let item = r.json()["id"].as_str().unwrap().to_string();
    let r = aws
        .call(Method::POST, &format!("/restapis/{id}/resources/{orders}"), Some(json!({ "pathPart": "{other}" })))
        .await;
    assert_eq!((r.status, r.error_type().as_str()), (400, "BadRequestException"), "{:?}", r.json());
    let r = aws
        .call(Method::POST, &format!("/restapis/{id}/resources/{root}"), Some(json!({ "pathPart": "orders" })))
        .await;
    assert_eq!((r.status, r.error_type().as_str()), (409, "ConflictException"));
    // A greedy resource, last in its path.
    let r = aws
        .call(Method::POST, &format!("/restapis/{id}/resources/{root}"), Some(json!({ "pathPart": "{proxy+}" })))
        .await;
    assert_eq!((r.status, r.json()["path"].clone()), (201, json!("/{proxy+}")), "{:?}", r.json());
    let greedy = r.json()["id"].as_str().unwrap().to_string();
    let r =
        aws.call(Method::POST, &format!("/restapis/{id}/resources/{greedy}"), Some(json!({ "pathPart": "x" }))).await;
    assert_eq!(r.status, 400, "{:?}", r.json());
    assert_eq!(aws.call(Method::DELETE, &format!("/restapis/{id}/resources/{greedy}"), None).await.status, 202);
    let r =
        aws.call(Method::POST, &format!("/restapis/{id}/resources/nosuchres0"), Some(json!({ "pathPart": "x" }))).await;
    assert_eq!((r.status, r.error_type().as_str()), (404, "NotFoundException"));

    // A method without an integration can't be deployed.
    let method = format!("/restapis/{id}/resources/{item}/methods/GET");
    let r = aws.call(Method::PUT, &method, Some(json!({ "authorizationType": "NONE" }))).await;
    assert_eq!(
        (r.status, r.json()),
        (201, json!({ "httpMethod": "GET", "authorizationType": "NONE", "apiKeyRequired": false }))
    );
    let r = aws.call(Method::PUT, &method, Some(json!({ "authorizationType": "AWS_IAM" }))).await;
    assert_eq!(r.status, 400);
    let r = aws.call(Method::POST, &format!("/restapis/{id}/deployments"), Some(json!({ "stageName": "dev" }))).await;
    assert_eq!(r.status, 400, "{:?}", r.json());
    // The integration: the function's alias named by a stage variable.
    let uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:orders:${stageVariables.alias}/invocations";
    let r = aws
        .call(
            Method::PUT,
            &format!("{method}/integration"),
            Some(json!({ "type": "AWS_PROXY", "httpMethod": "POST", "uri": uri })),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(
        (r.json()["type"].clone(), r.json()["uri"].clone(), r.json()["httpMethod"].clone()),
        (json!("AWS_PROXY"), json!(uri), json!("POST"))
    );
    let r = aws
        .call(
            Method::PUT,
            &format!("{method}/integration"),
            Some(json!({ "type": "AWS", "httpMethod": "POST", "uri": uri })),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = aws
        .call(Method::PUT, &format!("{method}/integration"), Some(json!({ "type": "AWS_PROXY", "httpMethod": "POST", "uri": uri.replace("000000000000", "123456789012") })))
        .await;
    assert_eq!(r.status, 400);
    // The same route through /v1.
    let (_, routes) = s.call(Method::GET, &format!("/v1/apis/{id}/routes"), None).await;
    assert_eq!(routes["routes"][0]["path"], "/orders/{id}", "{routes}");
    let r = aws.call(Method::GET, &format!("/restapis/{id}/resources?embed=methods"), None).await;
    let items = r.json()["item"].as_array().unwrap().clone();
    assert_eq!(items.len(), 3, "{items:?}");
    let leaf = items.iter().find(|i| i["path"] == "/orders/{id}").unwrap();
    assert_eq!(leaf["resourceMethods"]["GET"]["methodIntegration"]["uri"], uri);

    // Deployments onto dev and prod, with variables; permissions; the invoke URLs.
    let r = aws
        .call(
            Method::POST,
            &format!("/restapis/{id}/deployments"),
            Some(json!({ "stageName": "dev", "variables": { "alias": "dev" }, "description": "first" })),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let d1 = r.json();
    assert_eq!(d1["description"], "first");
    assert!(d1["id"].is_string() && d1["createdDate"].is_i64(), "{d1}");
    let r = aws
        .call(Method::POST, &format!("/restapis/{id}/stages"), Some(json!({ "stageName": "prod", "deploymentId": d1["id"], "variables": { "alias": "prod" }, "description": "production" })))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let st = r.json();
    for (field, want) in [
        ("stageName", json!("prod")),
        ("deploymentId", d1["id"].clone()),
        ("description", json!("production")),
        ("variables", json!({ "alias": "prod" })),
        ("cacheClusterEnabled", json!(false)),
        ("tracingEnabled", json!(false)),
    ] {
        assert_eq!(st[field], want, "{field}: {st}");
    }
    let r = aws
        .call(
            Method::POST,
            &format!("/restapis/{id}/stages"),
            Some(json!({ "stageName": "prod", "deploymentId": d1["id"] })),
        )
        .await;
    assert_eq!((r.status, r.error_type().as_str()), (409, "ConflictException"));
    for alias in ["dev", "prod"] {
        let add = json!({ "StatementId": format!("apigw-{alias}"), "Action": "lambda:InvokeFunction", "Principal": "apigateway.amazonaws.com",
            "SourceArn": format!("arn:aws:execute-api:us-east-1:000000000000:{id}/{alias}/GET/orders/*") });
        let r =
            aws.call(Method::POST, &format!("/2015-03-31/functions/orders/policy?Qualifier={alias}"), Some(add)).await;
        assert_eq!(r.status, 201, "{:?}", r.json());
    }
    for stage in ["dev", "prod"] {
        let r = s.gw(Method::GET, &format!("/{id}/{stage}/orders/7")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{stage}");
        assert_eq!(r.text().await.unwrap(), "hi");
    }

    // A canary on prod, moved by patch operations, then promoted.
    let r = aws
        .call(
            Method::POST,
            &format!("/restapis/{id}/deployments"),
            Some(json!({ "stageName": "prod", "canarySettings": { "percentTraffic": 10.0 } })),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let d2 = r.json()["id"].as_str().unwrap().to_string();
    let patch = |ops: Value| json!({ "patchOperations": ops });
    let r = aws
        .call(
            Method::PATCH,
            &format!("/restapis/{id}/stages/prod"),
            Some(patch(json!([
                { "op": "replace", "path": "/canarySettings/percentTraffic", "value": "25" },
                { "op": "replace", "path": "/canarySettings/stageVariableOverrides/alias", "value": "dev" },
                { "op": "replace", "path": "/variables/color", "value": "blue" },
            ]))),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let st = r.json();
    assert_eq!(
        st["canarySettings"],
        json!({ "percentTraffic": 25.0, "deploymentId": d2, "stageVariableOverrides": { "alias": "dev" }, "useStageCache": false })
    );
    assert_eq!(st["variables"], json!({ "alias": "prod", "color": "blue" }));
    // A bad operation changes nothing (the others in the request included).
    let r = aws
        .call(
            Method::PATCH,
            &format!("/restapis/{id}/stages/prod"),
            Some(patch(json!([
                { "op": "replace", "path": "/variables/color", "value": "red" },
                { "op": "replace", "path": "/~1orders/GET/caching/enabled", "value": "true" },
            ]))),
        )
        .await;
    assert_eq!((r.status, r.error_type().as_str()), (400, "BadRequestException"));
    let r = aws
        .call(
            Method::PATCH,
            &format!("/restapis/{id}/stages/prod"),
            Some(patch(json!([{ "op": "replace", "path": "/canarySettings/percentTraffic", "value": "101" }]))),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        aws.call(Method::GET, &format!("/restapis/{id}/stages/prod"), None).await.json()["variables"]["color"],
        "blue"
    );
    let r = aws
        .call(
            Method::PATCH,
            &format!("/restapis/{id}/stages/prod"),
            Some(patch(json!([
                { "op": "copy", "from": "/canarySettings/deploymentId", "path": "/deploymentId" },
                { "op": "copy", "from": "/canarySettings/stageVariableOverrides", "path": "/variables" },
                { "op": "remove", "path": "/canarySettings" },
            ]))),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!((r.json()["deploymentId"].clone(), r.json()["variables"]["alias"].clone()), (json!(d2), json!("dev")));
    assert!(r.json().get("canarySettings").is_none(), "{:?}", r.json());

    // Cache and throttle settings, the flush.
    let r = aws
        .call(
            Method::PATCH,
            &format!("/restapis/{id}/stages/prod"),
            Some(patch(json!([
                { "op": "replace", "path": "/cacheClusterEnabled", "value": "true" },
                { "op": "replace", "path": "/*/*/caching/ttlInSeconds", "value": "60" },
                { "op": "replace", "path": "/*/*/throttling/rateLimit", "value": "100" },
                { "op": "replace", "path": "/*/*/throttling/burstLimit", "value": "200" },
            ]))),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let ms = &r.json()["methodSettings"]["*/*"];
    assert_eq!((ms["cachingEnabled"].clone(), ms["cacheTtlInSeconds"].clone()), (json!(true), json!(60)));
    assert_eq!((ms["throttlingRateLimit"].clone(), ms["throttlingBurstLimit"].clone()), (json!(100.0), json!(200)));
    let (_, v1) = s.call(Method::GET, &format!("/v1/apis/{id}/stages/prod"), None).await;
    assert_eq!((v1["cache"]["ttl_seconds"].clone(), v1["throttle"]["burst"].clone()), (json!(60), json!(200)), "{v1}");
    let r = aws.call(Method::DELETE, &format!("/restapis/{id}/stages/prod/cache/data"), None).await;
    assert_eq!(r.status, 202);
    let r = aws.call(Method::GET, &format!("/restapis/{id}/stages"), None).await;
    assert_eq!(r.json()["item"].as_array().unwrap().len(), 2);
    let r = aws.call(Method::GET, &format!("/restapis/{id}/deployments"), None).await;
    assert_eq!(r.json()["item"].as_array().unwrap().len(), 2);

    // Deletes: a resource takes its children and routes; stage; API.
    let r = aws.call(Method::DELETE, &format!("/restapis/{id}/resources/{root}"), None).await;
    assert_eq!(r.status, 400);
    let r = aws.call(Method::DELETE, &format!("/restapis/{id}/resources/{orders}"), None).await;
    assert_eq!(r.status, 202);
    let (_, routes) = s.call(Method::GET, &format!("/v1/apis/{id}/routes"), None).await;
    assert_eq!(routes["routes"], json!([]));
    assert_eq!(aws.call(Method::DELETE, &format!("/restapis/{id}/stages/dev"), None).await.status, 202);
    assert_eq!(aws.call(Method::GET, &format!("/restapis/{id}/stages/dev"), None).await.status, 404);
    assert_eq!(aws.call(Method::DELETE, &format!("/restapis/{id}"), None).await.status, 202);
    let r = aws.call(Method::GET, &format!("/restapis/{id}"), None).await;
    assert_eq!((r.status, r.error_type().as_str()), (404, "NotFoundException"));
}

/// A key allowed to deploy to dev only: API Gateway calls are checked exactly as `/v1`'s.
#[tokio::test]
async fn a_dev_scoped_aws_key_deploys_dev_and_not_prod() {
    let s = TestServer::start().await;
    let aws = Aws::admin(&s);
    let r = aws.call(Method::POST, "/restapis", Some(json!({ "name": "shop" }))).await;
    let (id, root) =
        (r.json()["id"].as_str().unwrap().to_string(), r.json()["rootResourceId"].as_str().unwrap().to_string());
    let method = format!("/restapis/{id}/resources/{root}/methods/GET");
    assert_eq!(aws.call(Method::PUT, &method, Some(json!({ "authorizationType": "NONE" }))).await.status, 201);
    let r = aws
        .call(
            Method::PUT,
            &format!("{method}/integration"),
            Some(json!({ "type": "MOCK", "requestTemplates": { "application/json": "{\"statusCode\": 204}" } })),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let r = aws.call(Method::POST, &format!("/restapis/{id}/deployments"), Some(json!({ "stageName": "prod" }))).await;
    assert_eq!(r.status, 201);
    let d = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(s.gw(Method::GET, &format!("/{id}/prod/")).send().await.unwrap().status(), 204);
    let policy = json!([
        {"effect": "allow", "actions": ["api:Read"], "resources": [format!("api/{id}"), format!("api/{id}/stage/*")]},
        {"effect": "allow", "actions": ["api:Deploy", "stage:Update"], "resources": [format!("api/{id}/stage/dev")]}
    ]);
    let (_, key) =
        s.call(Method::POST, "/v1/keys", Some(json!({ "name": "ci-dev", "policy": policy, "aws": true }))).await;
    let dev = Aws::new(&s, key["access_key_id"].as_str().unwrap(), key["secret_access_key"].as_str().unwrap());
    let r = dev.call(Method::POST, &format!("/restapis/{id}/deployments"), Some(json!({ "stageName": "dev" }))).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let r = dev.call(Method::POST, &format!("/restapis/{id}/deployments"), Some(json!({ "stageName": "prod" }))).await;
    assert_eq!((r.status, r.error_type().as_str()), (403, "AccessDeniedException"));
    let r = dev
        .call(Method::POST, &format!("/restapis/{id}/stages"), Some(json!({ "stageName": "prod2", "deploymentId": d })))
        .await;
    assert_eq!(r.status, 403);
    let moving = json!({ "patchOperations": [{ "op": "replace", "path": "/deploymentId", "value": d }] });
    let r = dev.call(Method::PATCH, &format!("/restapis/{id}/stages/prod"), Some(moving.clone())).await;
    assert_eq!(r.status, 403);
    let r = dev.call(Method::PATCH, &format!("/restapis/{id}/stages/dev"), Some(moving)).await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let r = dev.call(Method::DELETE, &format!("/restapis/{id}"), None).await;
    assert_eq!(r.status, 403);
    let r = dev.call(Method::GET, &format!("/restapis/{id}/stages/prod"), None).await;
    assert_eq!(r.status, 200);
}

/// A presigned URL (the signature in the query, as `aws-sigv4` presigns): good until it
/// expires, refused once a parameter changes.
#[tokio::test]
async fn presigned_urls_are_verified() {
    let s = TestServer::start().await;
    let (id, secret) = admin_credentials(&s);
    let host = s.url.trim_start_matches("http://").to_string();
    let presign = |path: &str, expires: u64, at: SystemTime| -> String {
        let identity = aws_credential_types::Credentials::new(&id, &secret, None, None, "t").into();
        let mut settings = SigningSettings::default();
        settings.signature_location = aws_sigv4::http_request::SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(expires));
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("lambda")
            .time(at)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let signable =
            SignableRequest::new("GET", path, [("host", host.as_str())].into_iter(), SignableBody::UnsignedPayload)
                .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut req = http::Request::builder().uri(format!("{}{path}", s.url)).body(()).unwrap();
        instructions.apply_to_request_http1x(&mut req);
        req.uri().to_string()
    };
    let url = presign("/2015-03-31/functions/?MaxItems=5", 60, SystemTime::now());
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), 200);
    let r = reqwest::get(url.replace("MaxItems=5", "MaxItems=6")).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-amzn-errortype"], "InvalidSignatureException");
    let old = presign("/2015-03-31/functions/", 60, SystemTime::now() - Duration::from_secs(120));
    let r = reqwest::get(&old).await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Signature expired"));
}
