//! Security headers, noindex, request ids and the cross-site check.

use actix_web::test::TestRequest;
use serde_json::json;

use crate::harness::test_app;

#[actix_web::test]
async fn every_response_carries_the_security_headers_and_a_request_id() {
    let t = test_app().await;
    let alice = t.user("alice").await;
    for r in [
        t.get("/api/v1/session", &alice).await,
        t.get("/api/v1/nowhere", &alice).await,
        t.send(TestRequest::get().uri("/")).await,
        t.send(TestRequest::get().uri("/healthz")).await,
    ] {
        for (name, value) in
            [("x-content-type-options", "nosniff"), ("referrer-policy", "no-referrer"), ("x-frame-options", "DENY")]
        {
            assert_eq!(r.header(name), Some(value), "{name}");
        }
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"), "{csp}");
        assert_eq!(r.header("x-request-id").map(str::len), Some(36));
        assert!(r.header("strict-transport-security").is_none(), "no HSTS on plain loopback http");
    }
    let api = t.get("/api/v1/session", &alice).await;
    assert_eq!(api.header("x-robots-tag"), Some("noindex, nofollow"));
    assert_eq!(api.header("cache-control"), Some("no-store"));
    let page = t.send(TestRequest::get().uri("/")).await;
    assert!(page.text.contains(r#"<meta name="robots" content="noindex, nofollow">"#));
    let a = t.send(TestRequest::get().uri("/healthz")).await;
    let b = t.send(TestRequest::get().uri("/healthz")).await;
    assert_ne!(a.header("x-request-id"), b.header("x-request-id"));
}

#[actix_web::test]
async fn unsafe_cookie_requests_from_other_sites_are_refused() {
    let t = test_app().await;
    let alice = t.user("alice").await;
    let post = |headers: Vec<(&'static str, &'static str)>| {
        let mut req = TestRequest::post()
            .uri("/api/v1/workspaces")
            .insert_header(("cookie", alice.cookie.clone()))
            .set_json(json!({"name": "CSRF"}));
        for h in headers {
            req = req.insert_header(h);
        }
        req
    };
    for headers in [
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
        vec![("origin", "https://evil.example")],
        vec![("origin", "http://127.0.0.1:9999")],
    ] {
        let r = t.send(post(headers.clone())).await;
        assert_eq!((r.status, r.code()), (403, Some("cross_site_request")), "{headers:?}");
    }
    let r = t.get("/api/v1/workspaces", &alice).await;
    assert_eq!(r.body["items"], json!([]), "nothing was created");
    for headers in [vec![("sec-fetch-site", "same-origin"), ("origin", "http://127.0.0.1:8080")], vec![]] {
        let r = t.send(post(headers.clone())).await;
        assert_eq!(r.status, 201, "{headers:?}: {}", r.text);
    }
    // A cross-site GET is harmless and allowed (SameSite=Lax sends the cookie on top-level navigation).
    let r = t
        .send(
            TestRequest::get()
                .uri("/api/v1/workspaces")
                .insert_header(("cookie", alice.cookie.clone()))
                .insert_header(("sec-fetch-site", "cross-site")),
        )
        .await;
    assert_eq!(r.status, 200);
}
