//! Share links over HTTP: made (the URL shown once), listed, revoked, views read; the
//! public pages with their headers, the password form and its limit, downloads on and
//! off, and one page for every link that shows nothing.

use actix_web::http::Method;
use actix_web::test::TestRequest;
use serde_json::{Value, json};

use crate::harness::{Reply, User, jpeg, test_app};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

fn token_of(url: &str) -> String {
    url.rsplit("/s/").next().unwrap_or_default().to_owned()
}

/// Asserts the headers every public share response carries.
fn public_headers(r: &Reply) {
    assert_eq!(r.header("cache-control"), Some("private, no-store"), "{}", r.text);
    assert_eq!(r.header("x-robots-tag"), Some("noindex, nofollow"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(csp.starts_with("default-src 'none'") && !csp.contains("unsafe"), "{csp}");
}

/// Asserts the page's one inline style sheet is allowed by its hash in the CSP, which
/// allows nothing else of the kind.
fn styled_under_the_csp(r: &Reply) {
    use base64::Engine as _;
    use sha2::Digest as _;
    let css = r.text.split("<style>").nth(1).and_then(|rest| rest.split("</style>").next()).unwrap_or_default();
    assert!(css.contains("font:"), "a style sheet: {}", r.text);
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(css.as_bytes()));
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains(&format!("style-src 'sha256-{hash}';")) && !csp.contains("unsafe"), "{csp}");
}

#[actix_web::test]
async fn a_shared_report_is_shown_to_anyone_with_the_link_and_every_view_is_recorded() {
    let t = test_app().await;
    let owner = t.user("owner").await;
    let ws = t.workspace(&owner, "Sharing").await;
    let job = t.job(&ws, &owner, "Roof").await;
    let photo = t.photo(&ws, &owner, &job).await;
    t.process(&ws, &photo).await;
    let reports = format!("/api/v1/workspaces/{ws}/jobs/{job}/reports");
    let body = json!({"title": "Roof survey", "items": [{"photo_id": photo, "caption": "North <side>"}]});
    let report = t.post(&reports, &owner, body).await.str("id");
    let links = format!("/api/v1/workspaces/{ws}/share-links");
    let made = t.post(&links, &owner, json!({"target": "report", "id": report, "job_id": job})).await;
    assert_eq!(made.status, 201, "{}", made.text);
    let url = made.str("url");
    assert!(url.starts_with("http://127.0.0.1:8080/s/"), "{url}");
    let token = token_of(&url);
    assert!(token.len() >= 22, "at least 128 bits");
    assert_eq!((made.body["target"].clone(), made.body["password"].clone()), (json!("report"), json!(false)));
    let listed = t.get(&links, &owner).await;
    assert_eq!(listed.body["items"][0]["id"], made.body["id"]);
    assert!(!listed.text.contains(&token) && listed.body["items"][0].get("url").is_none(), "the token is shown once");

    // A chat app unfurling the pasted link gets nothing of the report, and is no view;
    // an unknown token gets the same page.
    const SLACK: &str = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)";
    let unfurled = t.send(TestRequest::get().uri(&format!("/s/{token}")).insert_header(("user-agent", SLACK))).await;
    assert_eq!(unfurled.status, 200, "{}", unfurled.text);
    public_headers(&unfurled);
    assert!(unfurled.text.contains("Open this link in a browser") && !unfurled.text.contains("Roof survey"));
    let unknown_unfurled = t
        .send(
            TestRequest::get()
                .uri("/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
                .insert_header(("user-agent", SLACK)),
        )
        .await;
    assert_eq!((unknown_unfurled.status, &unknown_unfurled.text), (200, &unfurled.text));
    styled_under_the_csp(&unfurled);

    // Anyone with the link: no cookie, no session.
    let page = t
        .send(
            TestRequest::get()
                .uri(&format!("/s/{token}"))
                .peer_addr("203.0.113.77:5555".parse().expect("addr"))
                .insert_header(("user-agent", FIREFOX)),
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    public_headers(&page);
    assert!(
        page.text.contains("Roof survey") && page.text.contains("North &#60;side&#62;")
            || page.text.contains("North &lt;side&gt;")
    );
    assert!(page.text.contains(r#"<meta name="robots" content="noindex, nofollow">"#));
    assert!(!page.text.contains("Download PDF"), "downloads are off");
    let thumb = format!("/s/{token}/photos/{photo}/thumb");
    assert!(page.text.contains(&thumb));
    let img = t.send(TestRequest::get().uri(&thumb)).await;
    assert_eq!((img.status, img.header("content-type")), (200, Some("image/jpeg")));
    assert_eq!(img.bytes, jpeg(500)[..16], "the stripped variant");
    public_headers(&img);
    assert_eq!(t.send(TestRequest::get().uri(&format!("/s/{token}/photos/{photo}/original"))).await.status, 404);
    let refused = t.send(TestRequest::get().uri(&format!("/s/{token}/download"))).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(refused.text.contains("Downloads are off"));

    // The views: when, what, the network and the browser family; nothing more.
    let id = made.str("id");
    let views = t.get(&format!("{links}/{id}/views"), &owner).await;
    assert_eq!(views.status, 200, "{}", views.text);
    let items = views.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "one page view; previews, images and refused downloads are not: {}", views.text);
    assert_eq!((items[0]["viewed"].clone(), items[0]["network"].clone()), (json!("page"), json!("203.0.113.0/24")));
    assert_eq!(items[0]["browser"], "Firefox");
    assert!(!views.text.contains("203.0.113.77") && !views.text.contains("rv:128"));
    let audit = t.get(&format!("/api/v1/workspaces/{ws}/audit"), &owner).await;
    assert!(audit.text.contains("share_link.viewed") && audit.text.contains("share_link.created"));

    // Revoked: at once, and the same page as a link that never existed.
    let unknown = t.send(TestRequest::get().uri("/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")).await;
    assert_eq!(t.call(Method::DELETE, &format!("{links}/{id}"), Some(&owner), None).await.status, 204);
    let revoked = t.send(TestRequest::get().uri(&format!("/s/{token}"))).await;
    assert_eq!((revoked.status, unknown.status), (404, 404));
    assert_eq!(revoked.text, unknown.text, "revoked and unknown cannot be told apart");
    public_headers(&revoked);
    styled_under_the_csp(&revoked);
    assert_eq!(t.send(TestRequest::get().uri(&thumb)).await.status, 404, "its images too");
    for bad in ["x".to_owned(), "%00%ff".to_owned(), "a".repeat(4000), format!("{token}x")] {
        let r = t.send(TestRequest::get().uri(&format!("/s/{bad}"))).await;
        assert_eq!((r.status, r.text.clone()), (404, unknown.text.clone()), "{}", &bad[..bad.len().min(20)]);
    }
}

/// A photo of a new job in a new workspace of `owner`, shared with `body`; the token
/// and the photo id.
async fn shared<S, B>(t: &crate::harness::TestApp<S>, owner: &User, body: Value) -> (String, String)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let ws = t.workspace(owner, "Shared").await;
    let job = t.job(&ws, owner, "Roof").await;
    let photo = t.photo(&ws, owner, &job).await;
    t.process(&ws, &photo).await;
    let mut body = body;
    body["id"] = json!(photo);
    let made = t.post(&format!("/api/v1/workspaces/{ws}/share-links"), owner, body).await;
    assert_eq!(made.status, 201, "{}", made.text);
    (token_of(&made.str("url")), photo)
}

#[actix_web::test]
async fn a_password_link_asks_limits_wrong_guesses_and_opens_with_the_right_one() {
    let t = test_app().await;
    let owner = t.user("owner").await;
    let body = json!({"target": "photo", "password": "correct horse battery", "allow_download": true});
    let (token, photo) = shared(&t, &owner, body).await;
    let page = format!("/s/{token}");
    let form = t.send(TestRequest::get().uri(&page)).await;
    assert_eq!(form.status, 200);
    public_headers(&form);
    assert!(form.text.contains(r#"type="password""#) && !form.text.contains(&photo), "the form, nothing else");
    let locked = t.send(TestRequest::get().uri(&format!("{page}/photos/{photo}/thumb"))).await;
    assert_eq!(locked.status, 401, "no image before the password: {}", locked.text);
    assert_eq!(t.send(TestRequest::get().uri(&format!("{page}/download"))).await.status, 401);
    let attempt = |password: &str, addr: &str| {
        TestRequest::post()
            .uri(&page)
            .peer_addr(addr.parse().expect("addr"))
            .set_form([("password", password.to_owned())])
    };
    for _ in 0..5 {
        let wrong = t.send(attempt("wrong guess", "192.0.2.10:1")).await;
        assert_eq!(wrong.status, 401, "{}", wrong.text);
        assert!(wrong.text.contains("That password is not right."));
    }
    let limited = t.send(attempt("correct horse battery", "192.0.2.11:1")).await;
    assert_eq!(limited.status, 429, "the sixth try from that network, even right: {}", limited.text);
    assert!(limited.header("retry-after").and_then(|s| s.parse::<u32>().ok()).is_some_and(|s| s > 0));
    let right = t.send(attempt("correct horse battery", "198.51.100.1:1")).await;
    assert_eq!((right.status, right.header("location")), (303, Some(page.as_str())), "{}", right.text);
    let cookie = right.header("set-cookie").unwrap_or_default().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains(&format!("Path={page}")), "{cookie}");
    let proof = cookie.split(';').next().unwrap_or_default().to_owned();
    let opened = t.send(TestRequest::get().uri(&page).insert_header(("cookie", proof.clone()))).await;
    assert_eq!(opened.status, 200, "{}", opened.text);
    assert!(opened.text.contains(&format!("{page}/photos/{photo}/large")) && opened.text.contains("Download PDF"));
    let download =
        t.send(TestRequest::get().uri(&format!("{page}/download")).insert_header(("cookie", proof.clone()))).await;
    assert_eq!((download.status, download.header("content-type")), (200, Some("image/jpeg")));
    assert_eq!(download.bytes, jpeg(500)[..64], "the large variant, never the original");
    for bad in [
        TestRequest::post().uri(&page).set_payload("nothing=here"),
        TestRequest::post().uri(&page).set_form([("password", "x".repeat(5000))]),
    ] {
        let bad = bad.insert_header(("content-type", "application/x-www-form-urlencoded"));
        let r = t.send(bad).await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(
            r.text.contains("The form could not be read")
                && r.header("content-type").is_some_and(|c| c.starts_with("text/html"))
        );
    }
    let forged = t.send(TestRequest::get().uri(&page).insert_header(("cookie", "wv_share=00".to_owned()))).await;
    assert!(forged.text.contains(r#"type="password""#), "a forged proof opens nothing");
}

#[actix_web::test]
async fn behind_a_trusted_proxy_limits_and_views_follow_the_real_client() {
    use workvault_http::HttpSettings;
    use workvault_http::client::TrustedProxies;
    let settings = HttpSettings::for_url(url::Url::parse("http://127.0.0.1:8080").expect("url"))
        .with_trusted_proxies(TrustedProxies::new(vec!["10.0.0.0/8".parse().expect("cidr")]));
    let t = crate::harness::test_app_with(settings).await;
    let owner = t.user("owner").await;
    let ws = t.workspace(&owner, "Proxied").await;
    let job = t.job(&ws, &owner, "Roof").await;
    let photo = t.photo(&ws, &owner, &job).await;
    t.process(&ws, &photo).await;
    let body = json!({"target": "photo", "id": photo, "password": "correct horse battery"});
    let made = t.post(&format!("/api/v1/workspaces/{ws}/share-links"), &owner, body).await;
    assert_eq!(made.status, 201, "{}", made.text);
    let page = format!("/s/{}", token_of(&made.str("url")));
    let via_proxy = |password: &str, peer: &str, client: &str| {
        TestRequest::post()
            .uri(&page)
            .peer_addr(peer.parse().expect("addr"))
            .insert_header(("x-forwarded-for", client.to_owned()))
            .set_form([("password", password.to_owned())])
    };

    // The right password is no guess: ten in a row from one network never lock it.
    for _ in 0..10 {
        let right = t.send(via_proxy("correct horse battery", "10.0.0.1:1", "198.51.100.1")).await;
        assert_eq!(right.status, 303, "{}", right.text);
    }
    // Wrong guesses lock the guessing client's network, not everyone behind the proxy.
    for _ in 0..5 {
        assert_eq!(t.send(via_proxy("wrong", "10.0.0.1:1", "203.0.113.5")).await.status, 401);
    }
    assert_eq!(t.send(via_proxy("wrong", "10.0.0.2:1", "203.0.113.6")).await.status, 429, "that network is locked");
    let other = t.send(via_proxy("wrong", "10.0.0.1:1", "192.0.2.44")).await;
    assert_eq!(other.status, 401, "another client behind the same proxy is not: {}", other.text);
    // A peer that is no trusted proxy cannot name another client to escape its limit.
    let spoofed = t.send(via_proxy("wrong", "203.0.113.9:1", "192.0.2.99")).await;
    assert_eq!(spoofed.status, 429, "{}", spoofed.text);

    // Views record the client's network.
    let right = t.send(via_proxy("correct horse battery", "10.0.0.1:1", "198.51.100.1")).await;
    let proof = right.header("set-cookie").unwrap_or_default().split(';').next().unwrap_or_default().to_owned();
    let view = TestRequest::get()
        .uri(&page)
        .peer_addr("10.0.0.1:1".parse().expect("addr"))
        .insert_header(("forwarded", "for=\"[2001:db8:cafe::17]:4711\""))
        .insert_header(("cookie", proof));
    assert_eq!(t.send(view).await.status, 200);
    let views = t.get(&format!("/api/v1/workspaces/{ws}/share-links/{}/views", made.str("id")), &owner).await;
    assert_eq!(views.body["items"][0]["network"], "2001:db8:cafe::/48", "{}", views.text);
}

#[actix_web::test]
async fn a_link_stops_when_its_maker_may_no_longer_share_and_says_so_in_the_list() {
    let t = test_app().await;
    let (owner, restricted) = (t.user("owner").await, t.user("restricted").await);
    let ws = t.workspace(&owner, "Authority").await;
    t.join(&ws, &owner, &restricted, "restricted").await;
    let job = t.job(&ws, &owner, "Roof").await;
    let photo = t.photo(&ws, &owner, &job).await;
    t.process(&ws, &photo).await;
    let grant = format!("/api/v1/workspaces/{ws}/jobs/{job}/grants/{}", restricted.id);
    assert!(matches!(t.put(&grant, &owner).await.status, 200 | 201 | 204));
    let links = format!("/api/v1/workspaces/{ws}/share-links");
    let made = t.post(&links, &restricted, json!({"target": "job", "id": job})).await;
    assert_eq!((made.status, made.body["state"].clone()), (201, json!("active")), "{}", made.text);
    let page = format!("/s/{}", token_of(&made.str("url")));
    let thumb = format!("{page}/photos/{photo}/thumb");
    assert_eq!(t.send(TestRequest::get().uri(&page)).await.status, 200);
    assert_eq!(t.send(TestRequest::get().uri(&thumb)).await.status, 200);

    // The grant is revoked: the page and its images are refused like an unknown link.
    assert_eq!(t.delete(&grant, &owner).await.status, 204);
    let unknown = t.send(TestRequest::get().uri("/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")).await;
    let refused = t.send(TestRequest::get().uri(&page)).await;
    assert_eq!((refused.status, &refused.text), (404, &unknown.text));
    assert_eq!(t.send(TestRequest::get().uri(&thumb)).await.status, 404);
    let listed = t.get(&links, &owner).await;
    assert_eq!(listed.body["items"][0]["state"], "suspended", "{}", listed.text);

    // Removed from the workspace: refused, and listed as suspended.
    assert_eq!(t.delete(&format!("/api/v1/workspaces/{ws}/members/{}", restricted.id), &owner).await.status, 204);
    assert_eq!(t.send(TestRequest::get().uri(&page)).await.status, 404);
    assert_eq!(t.get(&links, &owner).await.body["items"][0]["state"], "suspended");
}

#[actix_web::test]
async fn expired_links_and_removed_content_get_their_own_readable_pages() {
    let t = test_app().await;
    let owner = t.user("owner").await;
    let (token, photo) = shared(&t, &owner, json!({"target": "photo", "allow_download": true})).await;
    let page = format!("/s/{token}");
    assert_eq!(t.send(TestRequest::get().uri(&page)).await.status, 200);
    let ws = t.get("/api/v1/workspaces", &owner).await.body["items"][0]["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(t.delete(&format!("/api/v1/workspaces/{ws}/photos/{photo}"), &owner).await.status, 204);
    let gone = t.send(TestRequest::get().uri(&page)).await;
    assert_eq!(gone.status, 410, "{}", gone.text);
    assert!(gone.text.contains("no longer available"));
    public_headers(&gone);
    t.clock.advance(chrono::Duration::days(31));
    let expired = t.send(TestRequest::get().uri(&page)).await;
    assert_eq!(expired.status, 410);
    assert!(expired.text.contains("This link has expired"));
}

#[actix_web::test]
async fn bad_share_link_requests_are_problems_and_change_nothing() {
    let t = test_app().await;
    let owner = t.user("owner").await;
    let ws = t.workspace(&owner, "Sharing").await;
    let job = t.job(&ws, &owner, "Roof").await;
    let stranger = t.user("stranger").await;
    let their_ws = t.workspace(&stranger, "Theirs").await;
    let their_job = t.job(&their_ws, &stranger, "Theirs").await;
    let links = format!("/api/v1/workspaces/{ws}/share-links");
    let far = (chrono::Utc::now() + chrono::Duration::days(4000)).to_rfc3339();
    let cases = [
        (json!({"target": "job", "id": their_job}), 404, "not_found"),
        (json!({"target": "job", "id": "nope"}), 422, "validation_failed"),
        (json!({"target": "report", "id": job}), 422, "validation_failed"),
        (json!({"target": "album", "id": job}), 400, "invalid_body"),
        (json!({"target": "job", "id": job, "expires_at": "2001-01-01T00:00:00Z"}), 422, "validation_failed"),
        (json!({"target": "job", "id": job, "expires_at": far}), 422, "validation_failed"),
        (json!({"target": "job", "id": job, "password": "short"}), 422, "validation_failed"),
        (json!({"target": "job", "id": job, "colour": "red"}), 400, "unknown_field"),
    ];
    for (body, status, code) in cases {
        let before = t.snapshot(&ws).await;
        let r = t.post(&links, &owner, body.clone()).await;
        assert_eq!((r.status, r.code()), (status, Some(code)), "{body}: {}", r.text);
        assert_eq!(t.snapshot(&ws).await, before, "{body} changed something");
    }
}

/// A workspace chooses how long it keeps its links' views: Owners and Admins set it,
/// out-of-range days are refused with nothing changed, `null` goes back to the
/// instance's default, and each change is audited.
#[actix_web::test]
async fn a_workspace_sets_how_long_it_keeps_link_views() {
    let t = test_app().await;
    let owner = t.user("owner").await;
    let member = t.user("member").await;
    let ws = t.workspace(&owner, "Retention").await;
    t.join(&ws, &owner, &member, "member").await;
    let path = format!("/api/v1/workspaces/{ws}");
    assert_eq!(t.get(&path, &owner).await.body["settings"]["share_view_retention_days"], Value::Null);
    let set = |days: Value| json!({"settings": {"share_view_retention_days": days}});

    let changed = t.patch(&path, &owner, set(json!(30))).await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.body["settings"]["share_view_retention_days"], 30);
    for (bad, status) in [(json!(0), 422), (json!(3651), 422), (json!(-1), 400), (json!("30"), 400), (json!(1.5), 400)]
    {
        let refused = t.patch(&path, &owner, set(bad.clone())).await;
        assert_eq!(refused.status, status, "{bad}: {}", refused.text);
        assert_eq!(refused.header("content-type"), Some("application/problem+json"));
    }
    assert_eq!(t.get(&path, &owner).await.body["settings"]["share_view_retention_days"], 30, "nothing changed");
    assert_eq!(t.patch(&path, &member, set(json!(7))).await.status, 403, "members do not choose");

    let back = t.patch(&path, &owner, set(Value::Null)).await;
    assert_eq!(back.body["settings"]["share_view_retention_days"], Value::Null, "{}", back.text);
    let audit = t.get(&format!("{path}/audit"), &owner).await;
    let changes: Vec<Value> = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == "workspace.updated")
        .map(|e| e["details"]["share_view_retention_days"].clone())
        .collect();
    assert_eq!(changes, [Value::Null, json!(30)], "newest first");
}

/// A link opened before the worker has made its photo's variants says the photo is
/// being prepared (503, `Retry-After`, a page that reloads itself), never that it was
/// removed, on the page, its images and its download; once processed it shows. A photo
/// that could not be read is not "removed" either.
#[actix_web::test]
async fn a_photo_still_being_prepared_or_unreadable_is_not_told_as_removed() {
    use workvault_domain::photo::{PhotoStore, Processed};
    let t = test_app().await;
    let owner = t.user("owner").await;
    let ws = t.workspace(&owner, "Fresh").await;
    let job = t.job(&ws, &owner, "Roof").await;
    let links = format!("/api/v1/workspaces/{ws}/share-links");
    let photo = t.photo(&ws, &owner, &job).await;
    let made = t.post(&links, &owner, json!({"target": "photo", "id": photo, "allow_download": true})).await;
    let page = format!("/s/{}", token_of(&made.str("url")));
    let gallery =
        format!("/s/{}", token_of(&t.post(&links, &owner, json!({"target": "job", "id": job})).await.str("url")));
    let parts = [page.clone(), format!("{page}/photos/{photo}/thumb"), format!("{page}/download")];
    for path in parts.iter().chain([&format!("{gallery}/photos/{photo}/large")]) {
        let r = t.send(TestRequest::get().uri(path)).await;
        assert_eq!((r.status, r.header("retry-after")), (503, Some("2")), "{path}: {}", r.text);
        assert!(r.text.contains("being prepared") && !r.text.contains("removed"), "{}", r.text);
        public_headers(&r);
    }
    let preparing = t.send(TestRequest::get().uri(&page)).await;
    assert!(preparing.text.contains(r#"<meta http-equiv="refresh" content="2">"#), "{}", preparing.text);
    styled_under_the_csp(&preparing);
    let views = t.get(&format!("{links}/{}/views", made.str("id")), &owner).await;
    assert_eq!(views.body["items"], json!([]), "nothing was shown, so nothing was viewed");

    t.process(&ws, &photo).await;
    for path in &parts {
        assert_eq!(t.send(TestRequest::get().uri(path)).await.status, 200, "{path}");
    }

    let unreadable = t.photo(&ws, &owner, &job).await;
    let (ws_id, photo_id) = (ws.parse().expect("ws id"), unreadable.parse().expect("photo id"));
    t.store.finish_photo(ws_id, photo_id, &Processed::unprocessable()).await.expect("finish");
    let made = t.post(&links, &owner, json!({"target": "photo", "id": unreadable, "allow_download": true})).await;
    let page = format!("/s/{}", token_of(&made.str("url")));
    for path in [page.clone(), format!("{page}/download"), format!("{gallery}/photos/{unreadable}/thumb")] {
        let r = t.send(TestRequest::get().uri(&path)).await;
        assert_eq!(r.status, 409, "{path}: {}", r.text);
        assert!(r.text.contains("could not be read as an image") && r.text.contains("not removed"), "{}", r.text);
    }
}
