//! The one commit path: every accepted change advances the store's change sequence once
//! and is in the routing snapshot before the answer; a refused change (any 4xx) and a
//! read advance nothing. Changes made in one batch commit (`Platform::commit` with the
//! use cases' `*_in` forms) are all-or-nothing.

use crate::harness::TestServer;
use reqwest::Method;
use serde_json::json;
use waygate::model::FunctionName;

fn seq(s: &TestServer) -> u64 {
    s.platform().snapshot().change_seq
}

#[tokio::test]
async fn each_accepted_change_advances_the_change_sequence_and_is_live_before_the_answer() {
    let s = TestServer::start().await;
    let start = seq(&s);
    s.create("f", json!({})).await;
    assert_eq!(seq(&s), start + 1, "one committed change, one step");
    assert!(s.platform().snapshot().functions.contains_key("f"), "live before the 201");

    // Refused: duplicate (409), invalid (400), unknown (404). Reads: nothing either.
    let (st, _) = s.call(Method::POST, "/v1/functions", Some(json!({ "name": "f" }))).await;
    assert_eq!(st, 409);
    let (st, _) = s.call(Method::PATCH, "/v1/functions/f/config", Some(json!({ "memory_mb": 1000000 }))).await;
    assert_eq!(st, 400);
    let (st, _) = s.call(Method::DELETE, "/v1/functions/nope", None).await;
    assert_eq!(st, 404);
    let (st, _) = s.call(Method::GET, "/v1/functions/f", None).await;
    assert_eq!(st, 200);
    assert_eq!(seq(&s), start + 1);

    let (st, _) = s.call(Method::PATCH, "/v1/functions/f/config", Some(json!({ "memory_mb": 256 }))).await;
    assert_eq!(st, 200);
    assert_eq!(seq(&s), start + 2);
    let (st, _) = s.call(Method::DELETE, "/v1/functions/f", None).await;
    assert_eq!(st, 204);
    assert_eq!(seq(&s), start + 3);
    assert!(!s.platform().snapshot().functions.contains_key("f"));
}

#[tokio::test]
async fn a_batch_commit_is_all_or_nothing() {
    let s = TestServer::start().await;
    let p = s.platform();
    let start = seq(&s);
    let (a, b) = (FunctionName::parse("a").unwrap(), FunctionName::parse("b").unwrap());
    // The second create in the batch is refused (a duplicate): the first one goes too.
    let (a2, b2) = (a.clone(), b.clone());
    let refused = p
        .commit(move |tx| {
            tx.insert_function(&a2, &Default::default())?;
            tx.insert_function(&b2, &Default::default())?;
            if tx.find_function(&a2)?.is_some() {
                return Err(waygate::ops::Error::Conflict("Function already exist: a".into()));
            }
            Ok(())
        })
        .await;
    assert!(matches!(refused, Err(waygate::ops::Error::Conflict(_))));
    assert_eq!(seq(&s), start);
    let (st, _) = s.call(Method::GET, "/v1/functions/a", None).await;
    assert_eq!(st, 404, "nothing of the refused batch was stored");
    assert!(!p.snapshot().functions.contains_key("b"));

    let (a2, b2) = (a.clone(), b.clone());
    p.commit(move |tx| {
        tx.insert_function(&a2, &Default::default())?;
        tx.insert_function(&b2, &Default::default())
    })
    .await
    .expect("batch");
    assert_eq!(seq(&s), start + 1, "one batch, one commit");
    assert!(p.snapshot().functions.contains_key("a") && p.snapshot().functions.contains_key("b"));
}
