//! Every route, driven through its happy path and the behaviour users rely on.

use actix_web::http::Method;
use actix_web::test::TestRequest;
use chrono::Duration;
use serde_json::json;
use workvault_domain::secret::Token;

use crate::harness::test_app;

#[actix_web::test]
async fn session_workspaces_members_and_ownership() {
    let t = test_app().await;
    let alice = t.user("alice").await;
    let bob = t.user("bob").await;

    let r = t.get("/api/v1/session", &alice).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["user"]["email"], "alice@example.test");
    assert_eq!(r.body["workspaces"], json!([]));

    let r = t.post("/api/v1/workspaces", &alice, json!({"name": "  Acme Roofing  "})).await;
    assert_eq!(r.status, 201);
    let ws = r.str("id");
    assert_eq!(r.header("location"), Some(format!("/api/v1/workspaces/{ws}").as_str()));
    assert_eq!((r.str("name"), r.str("role")), ("Acme Roofing".into(), "owner".into()));

    let r = t.get("/api/v1/workspaces", &alice).await;
    assert_eq!(r.body["items"][0]["id"], ws.as_str());
    assert_eq!(r.body["next_cursor"], serde_json::Value::Null);
    let r = t.patch(&format!("/api/v1/workspaces/{ws}"), &alice, json!({"name": "Acme Ltd"})).await;
    assert_eq!((r.status, r.str("name")), (200, "Acme Ltd".into()));
    let r = t.get(&format!("/api/v1/workspaces/{ws}"), &alice).await;
    assert_eq!(r.str("name"), "Acme Ltd");

    t.clock.advance(Duration::seconds(1));
    t.join(&ws, &alice, &bob, "member").await;
    let r = t.get(&format!("/api/v1/workspaces/{ws}/members"), &alice).await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(r.body["items"][0]["email"], "bob@example.test", "newest first");

    let r = t.patch(&format!("/api/v1/workspaces/{ws}/members/{}", bob.id), &alice, json!({"role": "admin"})).await;
    assert_eq!((r.status, r.str("role")), (200, "admin".into()));
    let r = t.post(&format!("/api/v1/workspaces/{ws}/ownership"), &alice, json!({"user_id": bob.id})).await;
    assert_eq!((r.status, r.str("role")), (200, "admin".into()), "{}", r.text);
    let r = t.get(&format!("/api/v1/workspaces/{ws}"), &bob).await;
    assert_eq!(r.str("role"), "owner");
    // The new Owner removes the old one (now an Admin).
    let r = t.delete(&format!("/api/v1/workspaces/{ws}/members/{}", alice.id), &bob).await;
    assert_eq!(r.status, 204);
    let r = t.get(&format!("/api/v1/workspaces/{ws}"), &alice).await;
    assert_eq!(r.status, 401, "removal revoked alice's sessions: {}", r.text);

    // The new Owner sees a member's sessions and signs one out (audited).
    let carol = t.user("carol").await;
    t.join(&ws, &bob, &carol, "member").await;
    let r = t.get(&format!("/api/v1/workspaces/{ws}/members/{}/sessions", carol.id), &bob).await;
    assert_eq!((r.status, r.body["items"][0]["id"].as_str()), (200, Some(carol.session.as_str())), "{}", r.text);
    assert!(!r.text.contains(carol.cookie.trim_start_matches("wv_session=")), "no token in the list");
    let r = t.delete(&format!("/api/v1/workspaces/{ws}/members/{}/sessions/{}", carol.id, carol.session), &bob).await;
    assert_eq!(r.status, 204);
    assert_eq!(t.get("/api/v1/session", &carol).await.status, 401, "signed out at once");
    let r = t.get(&format!("/api/v1/workspaces/{ws}/audit?limit=1"), &bob).await;
    assert_eq!(r.body["items"][0]["action"], "session.revoked");
    let r = t.delete(&format!("/api/v1/workspaces/{ws}/members/{}/sessions/{}", carol.id, carol.session), &bob).await;
    assert_eq!((r.status, r.code()), (404, Some("not_found")), "already ended");
    let r = t.delete(&format!("/api/v1/workspaces/{ws}/members/{}/sessions/{}", carol.id, bob.session), &bob).await;
    assert_eq!((r.status, r.code()), (404, Some("not_found")), "another user's session id");

    let r = t.delete("/api/v1/session", &bob).await;
    assert_eq!(r.status, 204);
    assert!(r.header("set-cookie").is_some_and(|c| c.starts_with("wv_session=;")), "{:?}", r.header("set-cookie"));
    let r = t.get("/api/v1/session", &bob).await;
    assert_eq!((r.status, r.code()), (401, Some("unauthenticated")));
}

#[actix_web::test]
async fn invites_list_revoke_accept_and_their_failures() {
    let t = test_app().await;
    let (alice, bob, carol) = (t.user("alice").await, t.user("bob").await, t.user("carol").await);
    let ws = t.workspace(&alice, "Invites").await;
    let r = t
        .post(&format!("/api/v1/workspaces/{ws}/invites"), &alice, json!({"role": "restricted", "expires_in": 3600}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.str("url").starts_with("http://127.0.0.1:8080/invites/"));
    let invite_id = r.str("id");
    let token = r.str("url").rsplit('/').next().unwrap_or_default().to_owned();
    assert_eq!(r.header("location"), Some(format!("/api/v1/workspaces/{ws}/invites/{invite_id}").as_str()));

    let r = t.get(&format!("/api/v1/workspaces/{ws}/invites"), &alice).await;
    assert_eq!(r.body["items"][0]["id"], invite_id.as_str());
    assert!(!r.text.contains(&token), "the token is shown once, at creation");

    let accept = format!("/api/v1/invites/{token}/accept");
    let r = t.call(Method::POST, &accept, Some(&bob), None).await;
    assert_eq!((r.status, r.body["workspace"]["role"].as_str()), (200, Some("restricted")), "{}", r.text);
    let before = t.snapshot(&ws).await;
    let r = t.call(Method::POST, &accept, Some(&carol), None).await;
    assert_eq!((r.status, r.code()), (410, Some("invite_used")));
    let r = t.call(Method::POST, &accept, Some(&bob), None).await;
    assert_eq!((r.status, r.code()), (410, Some("invite_used")));
    assert_eq!(t.snapshot(&ws).await, before, "a reused invite adds no member and no audit event");

    let r = t.post(&format!("/api/v1/workspaces/{ws}/invites"), &alice, json!({})).await;
    let (id2, token2) = (r.str("id"), r.str("url").rsplit('/').next().unwrap_or_default().to_owned());
    let r = t.delete(&format!("/api/v1/workspaces/{ws}/invites/{id2}"), &alice).await;
    assert_eq!(r.status, 204);
    let r = t.call(Method::POST, &format!("/api/v1/invites/{token2}/accept"), Some(&carol), None).await;
    assert_eq!((r.status, r.code()), (410, Some("invite_revoked")));

    let r = t.post(&format!("/api/v1/workspaces/{ws}/invites"), &alice, json!({"expires_in": 60})).await;
    let token3 = r.str("url").rsplit('/').next().unwrap_or_default().to_owned();
    t.clock.advance(Duration::seconds(60));
    let before = t.snapshot(&ws).await;
    let r = t.call(Method::POST, &format!("/api/v1/invites/{token3}/accept"), Some(&carol), None).await;
    assert_eq!((r.status, r.code()), (410, Some("invite_expired")));
    assert_eq!(t.snapshot(&ws).await, before);

    for bad in ["not-a-token", &"A".repeat(43)] {
        let r = t.call(Method::POST, &format!("/api/v1/invites/{bad}/accept"), Some(&carol), None).await;
        assert_eq!((r.status, r.code()), (404, Some("not_found")), "{bad}");
    }
}

#[actix_web::test]
async fn jobs_grants_and_restricted_visibility() {
    let t = test_app().await;
    let (alice, rita) = (t.user("alice").await, t.user("rita").await);
    let ws = t.workspace(&alice, "Jobs").await;
    t.join(&ws, &alice, &rita, "restricted").await;
    let r = t
        .post(
            &format!("/api/v1/workspaces/{ws}/jobs"),
            &alice,
            json!({"title": "Roof", "description": "Leaks", "address": "1 High St", "status": "in_progress"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let job = r.str("id");
    assert_eq!((r.str("status"), r.str("address")), ("in_progress".into(), "1 High St".into()));
    let other = t.job(&ws, &alice, "Gutter").await;

    let r = t
        .patch(
            &format!("/api/v1/workspaces/{ws}/jobs/{job}"),
            &alice,
            json!({"description": null, "status": "completed"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["description"].clone(), r.str("status"), r.str("title")),
        (serde_json::Value::Null, "completed".into(), "Roof".into())
    );

    assert_eq!(t.get(&format!("/api/v1/workspaces/{ws}/jobs/{job}"), &rita).await.status, 404);
    let r = t.get(&format!("/api/v1/workspaces/{ws}/jobs"), &rita).await;
    assert_eq!(r.body["items"], json!([]));

    let grant = format!("/api/v1/workspaces/{ws}/jobs/{job}/grants/{}", rita.id);
    let r = t.put(&grant, &alice).await;
    assert_eq!((r.status, r.str("user_id")), (201, rita.id.clone()));
    assert_eq!(t.put(&grant, &alice).await.status, 200, "granting twice is idempotent");
    let r = t.get(&format!("/api/v1/workspaces/{ws}/jobs/{job}/grants"), &alice).await;
    assert_eq!(r.body["items"][0]["user_id"], rita.id.as_str());
    let r = t.get(&format!("/api/v1/workspaces/{ws}/jobs"), &rita).await;
    assert_eq!(
        r.body["items"].as_array().map(|a| a.iter().map(|j| j["id"].clone()).collect::<Vec<_>>()),
        Some(vec![json!(job)])
    );
    let r = t.patch(&format!("/api/v1/workspaces/{ws}/jobs/{job}"), &rita, json!({"status": "archived"})).await;
    assert_eq!(r.status, 200, "a granted Restricted member may update the job");
    assert_eq!(t.get(&format!("/api/v1/workspaces/{ws}/jobs/{other}"), &rita).await.status, 404);

    assert_eq!(t.delete(&grant, &alice).await.status, 204);
    assert_eq!(
        t.get(&format!("/api/v1/workspaces/{ws}/jobs/{job}"), &rita).await.status,
        404,
        "revocation is effective at once"
    );
    assert_eq!((t.delete(&grant, &alice).await.code()), Some("not_found"));

    let r = t.put(&format!("/api/v1/workspaces/{ws}/jobs/{job}/grants/{}", alice.id), &alice).await;
    assert_eq!((r.status, r.code()), (422, Some("grant_needs_restricted")));

    assert_eq!(t.delete(&format!("/api/v1/workspaces/{ws}/jobs/{job}"), &alice).await.status, 204);
    assert_eq!(t.get(&format!("/api/v1/workspaces/{ws}/jobs/{job}"), &alice).await.status, 404);
    let r = t.get(&format!("/api/v1/workspaces/{ws}/jobs"), &alice).await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
}

#[actix_web::test]
async fn a_role_round_trip_brings_back_no_grant_and_no_invite() {
    let t = test_app().await;
    let (alice, rita, bob, joiner) =
        (t.user("alice").await, t.user("rita").await, t.user("bob").await, t.user("j").await);
    let ws = t.workspace(&alice, "Round trip").await;
    t.join(&ws, &alice, &rita, "restricted").await;
    t.join(&ws, &alice, &bob, "admin").await;
    let job = t.job(&ws, &alice, "Roof").await;
    assert_eq!(t.put(&format!("/api/v1/workspaces/{ws}/jobs/{job}/grants/{}", rita.id), &alice).await.status, 201);
    let role = |who: &str, role: &'static str| {
        let (url, alice) = (format!("/api/v1/workspaces/{ws}/members/{who}"), alice.clone());
        let t = &t;
        async move { t.patch(&url, &alice, json!({"role": role})).await.status }
    };
    assert_eq!(role(&rita.id, "member").await, 200);
    assert_eq!(role(&rita.id, "restricted").await, 200);
    assert_eq!(t.get(&format!("/api/v1/workspaces/{ws}/jobs/{job}"), &rita).await.status, 404, "no grant came back");
    let r = t.get(&format!("/api/v1/workspaces/{ws}/jobs/{job}/grants"), &alice).await;
    assert_eq!(r.body["items"], json!([]));

    let r = t.post(&format!("/api/v1/workspaces/{ws}/invites"), &bob, json!({"role": "member"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.str("url").rsplit('/').next().unwrap_or_default().to_owned();
    assert_eq!(role(&bob.id, "member").await, 200);
    assert_eq!(role(&bob.id, "admin").await, 200);
    let r = t.call(Method::POST, &format!("/api/v1/invites/{token}/accept"), Some(&joiner), None).await;
    assert_eq!((r.status, r.code()), (410, Some("invite_revoked")), "{}", r.text);
    let r = t.get(&format!("/api/v1/workspaces/{ws}/invites"), &alice).await;
    assert_eq!(r.body["items"], json!([]));
}

#[actix_web::test]
async fn lists_page_with_cursors() {
    let t = test_app().await;
    let alice = t.user("alice").await;
    let ws = t.workspace(&alice, "Paging").await;
    for i in 0..5 {
        t.clock.advance(Duration::seconds(1));
        t.job(&ws, &alice, &format!("job {i}")).await;
    }
    let mut titles = Vec::new();
    let mut url = format!("/api/v1/workspaces/{ws}/jobs?limit=2");
    loop {
        let r = t.get(&url, &alice).await;
        assert_eq!(r.status, 200, "{}", r.text);
        titles.extend(
            r.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|j| j["title"].as_str().unwrap_or_default().to_owned()),
        );
        match r.body["next_cursor"].as_str() {
            Some(c) => url = format!("/api/v1/workspaces/{ws}/jobs?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(titles, ["job 4", "job 3", "job 2", "job 1", "job 0"]);
    t.clock.advance(Duration::seconds(1));
    t.workspace(&alice, "Second").await;
    let r = t.get("/api/v1/workspaces?limit=1", &alice).await;
    assert_eq!(r.body["items"][0]["name"], "Second");
    let cursor = r.body["next_cursor"].as_str().expect("a second page").to_owned();
    let r = t.get(&format!("/api/v1/workspaces?limit=1&cursor={cursor}"), &alice).await;
    assert_eq!((r.body["items"][0]["name"].as_str(), r.body["next_cursor"].is_null()), (Some("Paging"), true));
}

#[actix_web::test]
async fn the_audit_log_records_request_ids_and_verifies() {
    let t = test_app().await;
    let alice = t.user("alice").await;
    let ws = t.workspace(&alice, "Audited").await;
    let r = t.post(&format!("/api/v1/workspaces/{ws}/jobs"), &alice, json!({"title": "Roof"})).await;
    let request_id = r.header("x-request-id").map(str::to_owned).expect("request id");
    let r = t.get(&format!("/api/v1/workspaces/{ws}/audit"), &alice).await;
    assert_eq!(r.status, 200);
    let newest = &r.body["items"][0];
    assert_eq!(newest["action"], "job.created");
    assert_eq!(newest["actor"]["id"], alice.id.as_str());
    assert_eq!(newest["request_id"], request_id.as_str());
    assert_eq!(newest["seq"], 2);
    assert_eq!(r.body["items"][1]["hash"], newest["prev_hash"]);
    let r = t.get(&format!("/api/v1/workspaces/{ws}/audit/verify"), &alice).await;
    assert_eq!(r.body, json!({"intact": true, "events": 2, "first_broken": null}));
}

#[actix_web::test]
async fn health_and_readiness() {
    let t = test_app().await;
    let r = t.send(TestRequest::get().uri("/healthz")).await;
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("ok")));
    let r = t.send(TestRequest::get().uri("/readyz")).await;
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("ok")));
}

#[actix_web::test]
async fn sign_in_links_ask_before_they_sign_in_and_open_a_session_once() {
    let t = test_app().await;
    let (_, token) = t.app.issue_sign_in_link("newcomer@example.test").await.expect("link");
    let path = format!("/auth/link/{}", token.expose());
    // Opening the link (a person, a mail scanner, a link preview) uses nothing up.
    for _ in 0..2 {
        let r = t.send(TestRequest::get().uri(&path)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.text.contains(r#"<form method="post" action="">"#) && r.text.contains("<button"), "{}", r.text);
        assert!(r.header("set-cookie").is_none() && r.text.contains("noindex"));
        assert!(r.header("content-security-policy").is_some_and(|c| !c.contains("script")));
    }
    let r = t.send(TestRequest::post().uri(&path)).await;
    assert_eq!((r.status, r.header("location")), (303, Some("/")), "{}", r.text);
    let cookie = r.header("set-cookie").expect("session cookie").to_owned();
    assert!(
        cookie.starts_with("wv_session=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain loopback http: no Secure flag");
    let session = cookie.split(';').next().unwrap_or_default().to_owned();
    let r = t.send(TestRequest::get().uri("/api/v1/session").insert_header(("cookie", session.clone()))).await;
    assert_eq!(r.body["user"]["email"], "newcomer@example.test");
    let r = t.send(TestRequest::get().uri("/").insert_header(("cookie", session.clone()))).await;
    assert!(r.text.contains("newcomer@example.test") && r.text.contains("noindex"), "{}", r.text);

    let ws = t
        .workspace(&crate::harness::User { id: String::new(), cookie: session.clone(), session: String::new() }, "Mine")
        .await;
    let before = t.snapshot(&ws).await;
    let used = t.send(TestRequest::post().uri(&path)).await;
    assert_eq!(used.status, 410);
    assert!(
        used.text.contains("cannot be used") && used.header("content-type").is_some_and(|c| c.starts_with("text/html"))
    );
    assert!(used.header("set-cookie").is_none());
    // An API client asking for JSON gets the problem document instead of the page.
    let r = t.send(TestRequest::get().uri(&path).insert_header(("accept", "application/json"))).await;
    assert_eq!((r.status, r.code()), (410, Some("sign_in_link_unusable")), "{}", r.text);
    assert_eq!(r.body["request_id"].as_str(), r.header("x-request-id"));
    assert_eq!(t.snapshot(&ws).await, before, "a reused link signs nobody in: no session, no audit event");

    // Used, expired, unknown and malformed: one page for all, on GET and POST alike.
    let (_, late) = t.app.issue_sign_in_link("late@example.test").await.expect("link");
    let before = t.snapshot(&ws).await;
    t.clock.advance(Duration::minutes(15));
    let unknown = Token::generate(&workvault_domain::testing::SeqRng::starting_at(u64::MAX / 3));
    let refused = |r: &crate::harness::Reply| (r.status, r.text.replace(r.header("x-request-id").unwrap_or("-"), ""));
    let used_page = refused(&t.send(TestRequest::get().uri(&path)).await);
    assert_eq!(used_page.0, 410);
    for other in [late.expose(), unknown.expose(), "garbage"] {
        for req in [TestRequest::get(), TestRequest::post()] {
            let r = t.send(req.uri(&format!("/auth/link/{other}"))).await;
            assert_eq!(refused(&r), used_page, "{other}");
        }
    }
    let r = t.send(TestRequest::get().uri("/auth/link/garbage").insert_header(("accept", "application/json"))).await;
    assert_eq!((r.status, r.code()), (410, Some("sign_in_link_unusable")));
    assert_eq!(t.snapshot(&ws).await, before);

    let r = t.send(TestRequest::post().uri("/auth/logout").insert_header(("cookie", session.clone()))).await;
    assert_eq!(r.status, 303);
    let r = t.send(TestRequest::get().uri("/api/v1/session").insert_header(("cookie", session))).await;
    assert_eq!(r.status, 401);
}

/// Signing in with a link from a browser that has a session ends that session
/// (rotation, as the identity provider's callback does); a cross-site post is refused
/// and leaves the link usable.
#[actix_web::test]
async fn a_sign_in_link_replaces_the_browsers_session_and_refuses_cross_site_posts() {
    let t = test_app().await;
    let old = t.user("someone").await;
    let (_, token) = t.app.issue_sign_in_link("newcomer@example.test").await.expect("link");
    let path = format!("/auth/link/{}", token.expose());
    for (name, value) in [("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")] {
        let r = t.send(TestRequest::post().uri(&path).insert_header((name, value))).await;
        assert_eq!(r.status, 403, "{name}: {}", r.text);
        assert!(r.text.contains("Request refused") && r.header("set-cookie").is_none());
    }
    assert_eq!(t.send(TestRequest::get().uri(&path)).await.status, 200, "the link is still usable");

    let r = t
        .send(
            TestRequest::post()
                .uri(&path)
                .insert_header(("cookie", old.cookie.clone()))
                .insert_header(("sec-fetch-site", "same-origin"))
                .insert_header(("origin", "http://127.0.0.1:8080")),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let new = r.header("set-cookie").and_then(|c| c.split(';').next()).unwrap_or_default().to_owned();
    assert!(new.starts_with("wv_session=") && new != old.cookie);
    let me = t.send(TestRequest::get().uri("/api/v1/session").insert_header(("cookie", new))).await;
    assert_eq!(me.body["user"]["email"], "newcomer@example.test", "{}", me.text);
    let before = t.send(TestRequest::get().uri("/api/v1/session").insert_header(("cookie", old.cookie))).await;
    assert_eq!((before.status, before.code()), (401, Some("unauthenticated")), "the old session ended");
}

#[actix_web::test]
async fn the_invite_page_accepts_for_a_signed_in_visitor() {
    let t = test_app().await;
    let (alice, bob) = (t.user("alice").await, t.user("bob").await);
    let ws = t.workspace(&alice, "Pages").await;
    let r = t.post(&format!("/api/v1/workspaces/{ws}/invites"), &alice, json!({})).await;
    let page = r.str("url").trim_start_matches("http://127.0.0.1:8080").to_owned();
    let r = t.send(TestRequest::get().uri(&page)).await;
    assert!(r.status == 200 && r.text.contains("Sign in first"), "{}", r.text);
    let r = t.send(TestRequest::get().uri(&page).insert_header(("cookie", bob.cookie.clone()))).await;
    assert!(r.text.contains("Accept the invitation"));
    let r = t.send(TestRequest::post().uri(&page).insert_header(("cookie", bob.cookie.clone()))).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(t.get(&format!("/api/v1/workspaces/{ws}"), &bob).await.str("role"), "member");
    let r = t.send(TestRequest::post().uri(&page).insert_header(("cookie", bob.cookie.clone()))).await;
    assert_eq!(r.status, 410);
}
