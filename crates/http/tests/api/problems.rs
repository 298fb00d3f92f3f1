//! Bad input: each gets a 4xx problem+json with its own code, and changes nothing.

use actix_web::http::Method;
use actix_web::test::TestRequest;
use serde_json::{Value, json};

use crate::harness::test_app;

fn assert_problem(r: &crate::harness::Reply, status: u16, code: &str) {
    assert_eq!((r.status, r.code()), (status, Some(code)), "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    for key in ["type", "title", "status", "detail", "code", "request_id"] {
        assert!(r.body.get(key).is_some(), "problem without {key}: {}", r.text);
    }
    assert_eq!(r.body["status"], status);
    assert_eq!(r.body["type"], format!("urn:workvault:problem:{code}"));
    assert_eq!(r.body["request_id"].as_str(), r.header("x-request-id"), "the body names the request");
}

#[actix_web::test]
async fn malformed_bodies_each_get_their_own_code_and_change_nothing() {
    let t = test_app().await;
    let alice = t.user("alice").await;
    let ws = t.workspace(&alice, "Bad input").await;
    let job = t.job(&ws, &alice, "Roof").await;
    let before = t.snapshot(&ws).await;
    let raw = |method: Method, path: String, body: &'static str, ctype: &'static str| {
        TestRequest::default()
            .method(method)
            .uri(&path)
            .insert_header(("cookie", alice.cookie.clone()))
            .insert_header(("content-type", ctype))
            .set_payload(body)
    };
    let jobs = format!("/api/v1/workspaces/{ws}/jobs");
    let cases: Vec<(TestRequest, u16, &str)> = vec![
        (raw(Method::POST, jobs.clone(), "{\"title\": ", "application/json"), 400, "invalid_json"),
        (raw(Method::POST, jobs.clone(), "{\"title\": \"x\", \"owner\": 1}", "application/json"), 400, "unknown_field"),
        (raw(Method::POST, jobs.clone(), "{\"title\": 42}", "application/json"), 400, "invalid_body"),
        (
            raw(Method::POST, jobs.clone(), "{\"title\": \"x\", \"status\": \"lost\"}", "application/json"),
            400,
            "invalid_body",
        ),
        (
            raw(Method::POST, jobs.clone(), "title=x", "application/x-www-form-urlencoded"),
            415,
            "unsupported_media_type",
        ),
        (raw(Method::PATCH, format!("{jobs}/{job}"), "[]", "application/json"), 400, "invalid_body"),
        (
            raw(
                Method::PATCH,
                format!("/api/v1/workspaces/{ws}"),
                "{\"name\": \"x\", \"plan\": \"gold\"}",
                "application/json",
            ),
            400,
            "unknown_field",
        ),
    ];
    for (req, status, code) in cases {
        let r = t.send(req).await;
        assert_problem(&r, status, code);
    }
    let huge = json!({"title": "x", "description": "y".repeat(70_000)});
    assert_problem(&t.post(&jobs, &alice, huge).await, 413, "payload_too_large");
    assert_eq!(t.snapshot(&ws).await, before);
}

#[actix_web::test]
async fn over_long_and_empty_strings_are_validation_errors_naming_the_field() {
    let t = test_app().await;
    let alice = t.user("alice").await;
    let ws = t.workspace(&alice, "Limits").await;
    let job = t.job(&ws, &alice, "Roof").await;
    let before = t.snapshot(&ws).await;
    let cases: Vec<(Method, String, Value, &str)> = vec![
        (Method::POST, "/api/v1/workspaces".into(), json!({"name": "x".repeat(201)}), "name"),
        (Method::POST, "/api/v1/workspaces".into(), json!({"name": "   "}), "name"),
        (Method::PATCH, format!("/api/v1/workspaces/{ws}"), json!({"name": ""}), "name"),
        (Method::POST, format!("/api/v1/workspaces/{ws}/jobs"), json!({"title": "x".repeat(201)}), "title"),
        (Method::POST, format!("/api/v1/workspaces/{ws}/jobs"), json!({"title": "a\u{0007}b"}), "title"),
        (
            Method::POST,
            format!("/api/v1/workspaces/{ws}/jobs"),
            json!({"title": "ok", "description": "d".repeat(10_001)}),
            "description",
        ),
        (Method::PATCH, format!("/api/v1/workspaces/{ws}/jobs/{job}"), json!({"address": "a".repeat(501)}), "address"),
        (Method::POST, format!("/api/v1/workspaces/{ws}/invites"), json!({"email": "not-an-email"}), "email"),
        (Method::POST, format!("/api/v1/workspaces/{ws}/invites"), json!({"expires_in": 0}), "expires_in"),
        (Method::POST, format!("/api/v1/workspaces/{ws}/invites"), json!({"expires_in": 99_999_999}), "expires_in"),
        (Method::PATCH, format!("/api/v1/workspaces/{ws}/members/{}", alice.id), json!({"role": "owner"}), "role"),
        (Method::POST, format!("/api/v1/workspaces/{ws}/ownership"), json!({"user_id": alice.id}), "user_id"),
    ];
    for (method, path, body, field) in cases {
        let r = t.call(method.clone(), &path, Some(&alice), Some(body)).await;
        assert_problem(&r, 422, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], field, "{method} {path}: {}", r.text);
    }
    assert_eq!(t.snapshot(&ws).await, before);
    let r = t.get("/api/v1/workspaces", &alice).await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1), "no workspace was created");
}

#[actix_web::test]
async fn invalid_ids_and_queries() {
    let t = test_app().await;
    let alice = t.user("alice").await;
    let ws = t.workspace(&alice, "Ids").await;
    for path in [
        "/api/v1/workspaces/123".to_owned(),
        "/api/v1/workspaces/0192F3A4-0000-7000-8000-00000000000Z".to_owned(),
        format!("/api/v1/workspaces/{ws}/jobs/{}", "x".repeat(300)),
        format!("/api/v1/workspaces/{ws}/members/not-a-uuid"),
    ] {
        let method = if path.contains("/members/") { Method::DELETE } else { Method::GET };
        assert_problem(&t.call(method, &path, Some(&alice), None).await, 400, "invalid_id");
    }
    let r = t.post(&format!("/api/v1/workspaces/{ws}/ownership"), &alice, json!({"user_id": "nobody"})).await;
    assert_problem(&r, 400, "invalid_id");
    for q in ["limit=0", "limit=201", "limit=abc", "cursor=%21%21", "cursor=bm90LWEtY3Vyc29y", "colour=blue"] {
        assert_problem(&t.get(&format!("/api/v1/workspaces/{ws}/jobs?{q}"), &alice).await, 400, "invalid_query");
    }
}

#[actix_web::test]
async fn unknown_routes_methods_and_missing_sessions() {
    let t = test_app().await;
    let alice = t.user("alice").await;
    assert_problem(&t.get("/api/v1/nothing-here", &alice).await, 404, "route_not_found");
    assert_problem(&t.call(Method::PUT, "/api/v1/workspaces", Some(&alice), None).await, 405, "method_not_allowed");
    assert_problem(&t.call(Method::GET, "/api/v1/workspaces", None, None).await, 401, "unauthenticated");
    let r = t.send(TestRequest::get().uri("/api/v1/workspaces").insert_header(("cookie", "wv_session=forged"))).await;
    assert_problem(&r, 401, "unauthenticated");
    let r = t
        .send(
            TestRequest::get()
                .uri("/api/v1/workspaces")
                .insert_header(("cookie", format!("wv_session={}", "A".repeat(43)))),
        )
        .await;
    assert_problem(&r, 401, "unauthenticated");
    let r = t
        .send(TestRequest::get().uri("/api/v1/workspaces").insert_header(("authorization", "Bearer abc.def.ghi")))
        .await;
    assert_problem(&r, 401, "unauthenticated");
    assert!(r.header("www-authenticate").is_some());
}

#[actix_web::test]
async fn a_store_failure_is_a_503_that_says_nothing_internal() {
    let t = test_app().await;
    let alice = t.user("alice").await;
    let ws = t.workspace(&alice, "Failing").await;
    let job = t.job(&ws, &alice, "Roof").await;
    t.store.execute_raw("PRAGMA foreign_keys = OFF; DROP TABLE grants;").await.expect("break the schema");
    let r = t.get(&format!("/api/v1/workspaces/{ws}/jobs/{job}"), &alice).await;
    assert_problem(&r, 503, "store_unavailable");
    assert!(
        !r.text.contains("grants") && !r.text.contains("SQL") && !r.text.to_lowercase().contains("sqlite"),
        "{}",
        r.text
    );
}

#[actix_web::test]
async fn absurd_numbers_are_validation_errors_not_crashes() {
    let t = test_app().await;
    let alice = t.user("alice").await;
    let ws = t.workspace(&alice, "Numbers").await;
    for n in [i64::MAX, i64::MIN, -1] {
        let r = t.post(&format!("/api/v1/workspaces/{ws}/invites"), &alice, json!({"expires_in": n})).await;
        assert_problem(&r, 422, "validation_failed");
    }
    let r = t.post(&format!("/api/v1/workspaces/{ws}/invites"), &alice, json!({"expires_in": 1e300})).await;
    assert_problem(&r, 400, "invalid_body");
}
