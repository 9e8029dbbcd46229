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
            .name("lambda")
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
    assert_eq!((r.json()["Version"].clone(), r.json()["FunctionArn"].clone()), (json!("2"), json!(format!("{arn}:2"))));
    assert_eq!(r.json()["Description"], "two");

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
    let db = std::fs::read(s.data().join("waygate.db")).unwrap();
    assert!(!db.windows(secret.len()).any(|w| w == secret.as_bytes()), "the secret is not stored in plaintext");

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
