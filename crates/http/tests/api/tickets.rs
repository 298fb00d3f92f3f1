//! Tickets over HTTP: the submit link made and rotated, the public form and the
//! tracking page with their headers, a thread worked from both sides, spam, bad forms
//! and floods refused with nothing stored, and nothing else reachable with the tokens.

use actix_web::http::Method;
use actix_web::test::TestRequest;
use serde_json::json;

use crate::harness::{Reply, test_app};

/// Asserts the headers every public ticket page carries.
fn public_headers(r: &Reply) {
    assert_eq!(r.header("cache-control"), Some("private, no-store"), "{}", r.text);
    assert_eq!(r.header("x-robots-tag"), Some("noindex, nofollow"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(csp.starts_with("default-src 'none'") && !csp.contains("unsafe"), "{csp}");
    assert!(r.text.contains(r#"<meta name="robots" content="noindex, nofollow">"#), "{}", r.text);
}

fn form_post(uri: &str, body: &str, peer: &str) -> TestRequest {
    TestRequest::post()
        .uri(uri)
        .peer_addr(peer.parse().expect("addr"))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(body.to_owned())
}

/// A multipart form with the text fields, then a file part.
fn multipart(uri: &str, fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> TestRequest {
    let boundary = "wvBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    if let Some((file_name, bytes)) = file {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    TestRequest::post()
        .uri(uri)
        .peer_addr("203.0.113.50:4000".parse().expect("addr"))
        .insert_header(("content-type", format!("multipart/form-data; boundary={boundary}")))
        .set_payload(body)
}

fn path_of(url: &str) -> String {
    url.trim_start_matches("http://127.0.0.1:8080").to_owned()
}

#[actix_web::test]
async fn a_request_sent_through_the_submit_link_is_answered_and_followed_on_its_tracking_page() {
    let t = test_app().await;
    let (owner, member) = (t.user("owner").await, t.user("member").await);
    let ws = t.workspace(&owner, "Acme Support").await;
    t.join(&ws, &owner, &member, "member").await;
    let links = format!("/api/v1/workspaces/{ws}/submit-links");
    let made = t.call(Method::POST, &links, Some(&owner), None).await;
    assert_eq!(made.status, 201, "{}", made.text);
    let form_path = path_of(&made.str("url"));
    assert!(form_path.starts_with("/t/new/") && form_path.len() > 30, "{form_path}");
    let listed = t.get(&links, &owner).await;
    assert!(!listed.text.contains(&form_path[7..]), "the token is shown once");
    assert_eq!(listed.body["items"][0]["active"], json!(true));

    let page = t.send(TestRequest::get().uri(&form_path)).await;
    assert_eq!(page.status, 200, "{}", page.text);
    public_headers(&page);
    assert!(page.text.contains("Contact Acme Support") && page.text.contains(r#"name="website""#));

    let body = "name=Asha+Rao&email=asha%40customer.test&subject=Gate+%3Cb%3Ecode%3C%2Fb%3E&body=It+stopped%0Aworking.&website=";
    let sent = t.send(form_post(&form_path, body, "203.0.113.9:4000")).await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    public_headers(&sent);
    let start = sent.text.find("/t/").expect("tracking link");
    let track_path: String = sent.text[start..].chars().take_while(|c| *c != '"' && *c != '<').collect();

    // The team sees it, with who asked; answers it.
    let tickets = format!("/api/v1/workspaces/{ws}/tickets");
    let list = t.get(&tickets, &member).await;
    assert_eq!(list.body["items"][0]["source"], json!("submit_link"));
    assert_eq!(list.body["items"][0]["requester_email"], json!("asha@customer.test"));
    let ticket = list.body["items"][0]["id"].as_str().expect("id").to_owned();
    let r = t.post(&format!("{tickets}/{ticket}/replies"), &member, json!({"body": "New code: 4321"})).await;
    assert_eq!(r.status, 201, "{}", r.text);

    t.clock.advance(chrono::Duration::seconds(60));
    // The requester reads the thread (the subject escaped, the team unnamed) and replies.
    let tracked = t.send(TestRequest::get().uri(&track_path)).await;
    assert_eq!(tracked.status, 200, "{}", tracked.text);
    public_headers(&tracked);
    assert!(
        tracked.text.contains("Gate &#60;b&#62;code&#60;/b&#62;") && !tracked.text.contains("<b>"),
        "{}",
        tracked.text
    );
    assert!(tracked.text.contains("It stopped<br>working.") && tracked.text.contains("New code: 4321"));
    assert!(tracked.text.contains("The team") && !tracked.text.contains("member@example.test"));
    let replied = t.send(form_post(&format!("{track_path}/replies"), "body=Works%2C+thanks", "203.0.113.9:4000")).await;
    assert_eq!((replied.status, replied.header("location")), (303, Some(track_path.as_str())), "{}", replied.text);
    let thread = t.get(&format!("{tickets}/{ticket}"), &member).await;
    let authors: Vec<&str> =
        thread.body["replies"].as_array().expect("replies").iter().filter_map(|r| r["author"].as_str()).collect();
    assert_eq!(authors, ["staff", "requester"]);
    let empty = t.send(form_post(&format!("{track_path}/replies"), "body=+", "203.0.113.9:4000")).await;
    assert_eq!(empty.status, 400, "{}", empty.text);
    assert!(empty.text.contains(r#"id="problem""#));

    // Closed: no more replies. Audit: submit and both replies.
    let r =
        t.call(Method::PATCH, &format!("{tickets}/{ticket}"), Some(&member), Some(json!({"status": "closed"}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let late = t.send(form_post(&format!("{track_path}/replies"), "body=Hello%3F", "203.0.113.9:4000")).await;
    assert_eq!(late.status, 409);
    assert!(t.send(TestRequest::get().uri(&track_path)).await.text.contains(r#"id="closed""#));
    let audit = t.get(&format!("/api/v1/workspaces/{ws}/audit"), &owner).await;
    for action in ["ticket.submitted", "ticket.replied", "submit_link.created", "ticket.updated"] {
        assert!(audit.text.contains(action), "{action} audited");
    }

    // The export lists it.
    let csv = t.get(&format!("{tickets}/export"), &owner).await;
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(
        csv.text.contains(",\"Gate <b>code</b>\",closed,") || csv.text.contains(",Gate <b>code</b>,closed,"),
        "{}",
        csv.text
    );
}

#[actix_web::test]
async fn the_tokens_reach_nothing_else_and_bad_submits_store_nothing() {
    let t = test_app().await;
    let owner = t.user("owner").await;
    let ws = t.workspace(&owner, "Helpdesk").await;
    let links = format!("/api/v1/workspaces/{ws}/submit-links");
    let form_path = path_of(&t.call(Method::POST, &links, Some(&owner), None).await.str("url"));
    let token = form_path.trim_start_matches("/t/new/").to_owned();
    let theirs = t
        .post(&format!("/api/v1/workspaces/{ws}/tickets"), &owner, json!({"subject": "Internal", "body": "Staff only"}))
        .await;
    assert_eq!(theirs.status, 201, "{}", theirs.text);
    let internal = theirs.str("id");

    // Unknown, malformed and id-shaped tokens: one 404 page. The submit token is no
    // tracking token, and neither token opens the API.
    let invalid = t.send(TestRequest::get().uri("/t/new/nope")).await;
    assert_eq!(invalid.status, 404);
    public_headers(&invalid);
    for path in
        [format!("/t/{token}"), format!("/t/{internal}"), "/t/new".into(), format!("/t/new/{}", "x".repeat(4000))]
    {
        let r = t.send(TestRequest::get().uri(&path)).await;
        assert_eq!((r.status, r.text.contains("This link is not valid")), (404, true), "{path}");
    }
    let api = t
        .send(
            TestRequest::get()
                .uri(&format!("/api/v1/workspaces/{ws}/tickets"))
                .insert_header(("authorization", format!("Bearer {token}"))),
        )
        .await;
    assert_eq!(api.status, 401, "{}", api.text);

    let before = t.snapshot(&ws).await;
    // The honeypot.
    let spam = "name=Bot&email=bot%40spam.test&subject=Buy&body=Now&website=http%3A%2F%2Fspam.test";
    let r = t.send(form_post(&form_path, spam, "198.51.100.7:1")).await;
    assert_eq!(r.status, 400, "{}", r.text);
    // A bad form: the page again with its problems and what was typed (escaped).
    let bad = "name=Asha&email=not-an-email&subject=&body=%3Cscript%3Ex%3C%2Fscript%3E&website=";
    let r = t.send(form_post(&form_path, bad, "198.51.100.7:1")).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains(r#"data-field="email""#) && r.text.contains(r#"data-field="subject""#), "{}", r.text);
    assert!(r.text.contains("&#60;script&#62;") && !r.text.contains("<script>"), "{}", r.text);
    let r = t.send(form_post(&form_path, "%%%", "198.51.100.7:1")).await;
    assert_eq!(r.status, 400);
    assert_eq!(t.snapshot(&ws).await, before, "nothing stored");

    // A flood from one network: five, then 429 with Retry-After.
    let ok = "name=Asha&email=asha%40customer.test&subject=Hello&body=Hi&website=";
    for _ in 0..5 {
        assert_eq!(t.send(form_post(&form_path, ok, "192.0.2.44:1")).await.status, 201);
    }
    let r = t.send(form_post(&form_path, ok, "192.0.2.45:1")).await;
    assert_eq!(r.status, 429, "the /24 counts as one network");
    assert!(r.header("retry-after").and_then(|v| v.parse::<u32>().ok()).is_some_and(|s| s > 0));
    assert_eq!(t.send(form_post(&form_path, ok, "198.51.100.7:1")).await.status, 201, "other networks go on");

    // Rotation ends the old link at once; turning off ends the new one.
    let rotated = path_of(&t.call(Method::POST, &links, Some(&owner), None).await.str("url"));
    assert_eq!(t.send(TestRequest::get().uri(&form_path)).await.status, 404, "rotated away");
    assert_eq!(t.send(form_post(&form_path, ok, "10.0.0.1:1")).await.status, 404);
    assert_eq!(t.send(TestRequest::get().uri(&rotated)).await.status, 200);
    let r = t.delete(&links, &owner).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(t.send(TestRequest::get().uri(&rotated)).await.status, 404, "turned off");
    let r = t.delete(&links, &owner).await;
    assert_eq!((r.status, r.code()), (404, Some("not_found")));
}

#[actix_web::test]
async fn files_travel_with_the_form_and_the_thread_as_downloads_only() {
    let t = test_app().await;
    let owner = t.user("owner").await;
    let ws = t.workspace(&owner, "Helpdesk").await;
    let links = format!("/api/v1/workspaces/{ws}/submit-links");
    let form_path = path_of(&t.call(Method::POST, &links, Some(&owner), None).await.str("url"));
    let fields = [
        ("name", "Asha"),
        ("email", "asha@customer.test"),
        ("subject", "Broken gate"),
        ("body", "See the plan"),
        ("website", ""),
    ];

    // A file that is neither a photo nor a PDF: refused, nothing stored.
    let before = t.snapshot(&ws).await;
    let r = t.send(multipart(&form_path, &fields, Some(("run.sh", b"#!/bin/sh\necho hi\n")))).await;
    assert_eq!(r.status, 415, "{}", r.text);
    assert_eq!(t.snapshot(&ws).await, before, "nothing stored");
    assert_eq!(t.blobs.len(), 0, "no bytes kept");

    let pdf = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";
    let sent = t.send(multipart(&form_path, &fields, Some(("gate plan.pdf", pdf)))).await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    let start = sent.text.find("/t/").expect("tracking link");
    let track_path: String = sent.text[start..].chars().take_while(|c| *c != '"' && *c != '<').collect();
    let page = t.send(TestRequest::get().uri(&track_path)).await;
    let href_at = page.text.find(&format!("{track_path}/attachments/")).expect("the file is listed");
    let href: String = page.text[href_at..].chars().take_while(|c| *c != '"').collect();
    let file = t.send(TestRequest::get().uri(&href)).await;
    assert_eq!(file.status, 200, "{}", file.text);
    assert_eq!(file.bytes, pdf);
    assert_eq!(file.header("content-type"), Some("application/pdf"));
    assert_eq!(file.header("content-disposition"), Some("attachment; filename=\"gateplan.pdf\""));
    assert_eq!(file.header("content-security-policy"), Some("default-src 'none'; sandbox"));
    assert_eq!(file.header("cache-control"), Some("private, no-store"));

    // The team sees it and adds a photo; a text file is refused (415).
    let tickets = format!("/api/v1/workspaces/{ws}/tickets");
    let ticket = t.get(&tickets, &owner).await.body["items"][0]["id"].as_str().expect("id").to_owned();
    let thread = t.get(&format!("{tickets}/{ticket}"), &owner).await;
    assert_eq!(thread.body["attachments"][0]["by"], json!("requester"));
    assert_eq!(thread.body["attachments"][0]["kind"], json!("pdf"));
    let files = format!("{tickets}/{ticket}/attachments");
    let r = t
        .call_typed(
            Method::POST,
            &format!("{files}?file_name=door.jpg"),
            &owner,
            "image/jpeg",
            crate::harness::jpeg(300),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let photo = r.str("id");
    let r = t.call_typed(Method::POST, &files, &owner, "text/plain", b"just text".to_vec()).await;
    assert_eq!((r.status, r.code()), (415, Some("unsupported_attachment")));
    let got = t.get(&format!("{files}/{photo}"), &owner).await;
    assert_eq!((got.status, got.bytes.len()), (200, 304));
    assert!(t.send(TestRequest::get().uri(&track_path)).await.text.contains("door.jpg"), "the requester sees it too");

    // Another ticket's tracking link does not reach these files.
    let other = t.send(multipart(&form_path, &fields, None)).await;
    let start = other.text.find("/t/").expect("tracking link");
    let other_track: String = other.text[start..].chars().take_while(|c| *c != '"' && *c != '<').collect();
    let stolen = format!("{other_track}/attachments/{photo}");
    assert_eq!(t.send(TestRequest::get().uri(&stolen)).await.status, 404);
}

fn settings() -> workvault_http::HttpSettings {
    workvault_http::HttpSettings::for_url(url::Url::parse("http://127.0.0.1:8080").expect("url"))
}

#[actix_web::test]
async fn ticket_uploads_take_slots_and_a_full_pool_answers_503() {
    use workvault_http::UploadSlots;
    let (node, public) = (UploadSlots::new(2), UploadSlots::new(1));
    let t = crate::harness::test_app_with(
        settings().with_upload_slots(node.clone()).with_public_upload_slots(public.clone()),
    )
    .await;
    let owner = t.user("owner").await;
    let ws = t.workspace(&owner, "Busy desk").await;
    let links = format!("/api/v1/workspaces/{ws}/submit-links");
    let form_path = path_of(&t.call(Method::POST, &links, Some(&owner), None).await.str("url"));
    let fields = [("name", "Asha"), ("email", "asha@customer.test"), ("subject", "Gate"), ("body", "See the plan")];
    let ticket =
        t.post(&format!("/api/v1/workspaces/{ws}/tickets"), &owner, json!({"subject": "S", "body": "B"})).await;
    let files = format!("/api/v1/workspaces/{ws}/tickets/{}/attachments", ticket.str("id"));
    let pdf = b"%PDF-1.7 plan".to_vec();

    // The public pool is full (one anonymous upload in flight): the form answers a
    // readable 503 page with Retry-After; a member's upload still has its slot.
    let held_public = public.take().expect("the public slot");
    let before = t.snapshot(&ws).await;
    let r = t.send(multipart(&form_path, &fields, Some(("plan.pdf", &pdf)))).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.header("retry-after"), Some("5"));
    assert!(r.text.contains("Nothing was sent"), "{}", r.text);
    public_headers(&r);
    assert_eq!(t.snapshot(&ws).await, before, "nothing stored");
    assert_eq!(t.call_typed(Method::POST, &files, &owner, "application/pdf", pdf.clone()).await.status, 201);
    drop(held_public);

    // The node's pool is full: members get 503 `uploads_busy`, and so does the form.
    let held = [node.take().expect("slot"), node.take().expect("slot")];
    let before = t.snapshot(&ws).await;
    let r = t.call_typed(Method::POST, &files, &owner, "application/pdf", pdf.clone()).await;
    assert_eq!((r.status, r.code()), (503, Some("uploads_busy")), "{}", r.text);
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(t.send(multipart(&form_path, &fields, Some(("plan.pdf", &pdf)))).await.status, 503);
    assert_eq!(t.snapshot(&ws).await, before, "nothing stored");
    drop(held);

    // Slots free again: both go through and give their slots back.
    assert_eq!(t.send(multipart(&form_path, &fields, Some(("plan.pdf", &pdf)))).await.status, 201);
    assert_eq!(t.call_typed(Method::POST, &files, &owner, "application/pdf", pdf).await.status, 201);
    assert!(public.take().is_some() && node.take().is_some() && node.take().is_some(), "every slot given back");
}

#[actix_web::test]
async fn a_stalled_upload_is_cut_off_after_the_idle_timeout_and_leaves_nothing() {
    use workvault_http::UploadSlots;
    let (node, public) = (UploadSlots::new(4), UploadSlots::new(2));
    let idle = std::time::Duration::from_millis(300);
    let t = crate::harness::test_app_with(
        settings()
            .with_upload_slots(node.clone())
            .with_public_upload_slots(public.clone())
            .with_upload_idle_timeout(idle),
    )
    .await;
    let owner = t.user("owner").await;
    let ws = t.workspace(&owner, "Slow desk").await;
    let links = format!("/api/v1/workspaces/{ws}/submit-links");
    let form_path = path_of(&t.call(Method::POST, &links, Some(&owner), None).await.str("url"));
    let ticket =
        t.post(&format!("/api/v1/workspaces/{ws}/tickets"), &owner, json!({"subject": "S", "body": "B"})).await;
    let files = format!("/api/v1/workspaces/{ws}/tickets/{}/attachments", ticket.str("id"));
    /// The first bytes of a body, then nothing ever again.
    fn stalling(
        first: Vec<u8>,
    ) -> impl futures_util::Stream<Item = Result<bytes::Bytes, actix_web::error::PayloadError>> {
        use futures_util::StreamExt as _;
        futures_util::stream::iter([Ok(bytes::Bytes::from(first))]).chain(futures_util::stream::pending())
    }
    let before = t.snapshot(&ws).await;

    // A member's upload: the PDF's first 4 KiB, then silence.
    let mut head = b"%PDF-1.7\n".to_vec();
    head.resize(4096, b' ');
    let req = TestRequest::post()
        .uri(&files)
        .insert_header(("cookie", owner.cookie.clone()))
        .insert_header(("content-type", "application/pdf"));
    let started = std::time::Instant::now();
    let r = t.send_streamed(req, stalling(head.clone())).await;
    assert!(started.elapsed() >= idle, "cut off after the idle time, not before");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "and not left hanging");
    assert_eq!((r.status, r.code()), (400, Some("body_incomplete")), "{}", r.text);

    // The public form: its fields and the start of the file, then silence.
    let boundary = "wvBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in [("name", "Asha"), ("email", "asha@customer.test"), ("subject", "Gate"), ("body", "Plan")] {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes(),
        );
    }
    body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"plan.pdf\"\r\nContent-Type: application/pdf\r\n\r\n").bytes());
    body.extend_from_slice(&head);
    let req = TestRequest::post()
        .uri(&form_path)
        .peer_addr("203.0.113.50:4000".parse().expect("addr"))
        .insert_header(("content-type", format!("multipart/form-data; boundary={boundary}")));
    let r = t.send_streamed(req, stalling(body)).await;
    assert!(r.status >= 400 && r.status < 500, "{} {}", r.status, r.text);
    public_headers(&r);

    assert_eq!(t.snapshot(&ws).await, before, "nothing stored");
    assert_eq!(t.blobs.len(), 0, "no bytes kept");
    assert!(public.take().is_some(), "the public slot was given back");
    let all: Vec<_> = (0..4).map(|_| node.take()).collect();
    assert!(all.iter().all(Option::is_some), "every node slot was given back");
}
