//! Reports over HTTP: made, read, edited and reordered, trashed, restored and purged;
//! every bad input a problem that changes nothing; the HTML rendering (escaped, strict
//! CSP, live photos only) and the PDF, read back by a real PDF reader (poppler).

use std::process::Command;

use actix_web::http::Method;
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{Reply, jpeg, test_app};

fn problem(r: &Reply, status: u16, code: &str) {
    assert_eq!((r.status, r.code()), (status, Some(code)), "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
}

fn ids(r: &Reply, list: &str, key: &str) -> Vec<String> {
    r.body[list]
        .as_array()
        .map(|a| a.iter().map(|i| i[key].as_str().unwrap_or("").to_owned()).collect())
        .unwrap_or_default()
}

/// A real JPEG of `w`×`h` pixels (a gradient), as the worker's `large` variant is.
fn real_jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80).encode_image(&img).expect("encode");
    out
}

#[actix_web::test]
async fn a_report_is_made_read_edited_reordered_and_trashed() {
    let t = test_app().await;
    let owner = t.user("owner").await;
    let ws = t.workspace(&owner, "Reports").await;
    let job = t.job(&ws, &owner, "Roof").await;
    let p: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(t.photo(&ws, &owner, &job).await);
        }
        v
    };
    let reports = format!("/api/v1/workspaces/{ws}/jobs/{job}/reports");
    let body = json!({
        "title": "Roof survey",
        "notes": "North side first.\nThen the chimney.",
        "items": [{"photo_id": p[2], "caption": "Chimney"}, {"photo_id": p[0]}],
    });
    let made = t.post(&reports, &owner, body).await;
    assert_eq!(made.status, 201, "{}", made.text);
    let id = made.str("id");
    let url = format!("{reports}/{id}");
    assert_eq!(made.header("location"), Some(url.as_str()));
    assert_eq!(ids(&made, "items", "photo_id"), [p[2].clone(), p[0].clone()]);
    assert_eq!(ids(&made, "photos", "id"), [p[2].clone(), p[0].clone()], "the records, in the same order");
    assert_eq!(made.body["items"][0]["caption"], "Chimney");
    assert_eq!(made.body["items"][1]["caption"], Value::Null);
    assert_eq!(made.body["notes"], "North side first.\nThen the chimney.");
    assert_eq!(made.body["html_url"], format!("{url}/html"));
    assert_eq!(made.body["pdf_url"], format!("{url}/pdf"));

    let read = t.get(&url, &owner).await;
    assert_eq!(read.body, made.body);
    let listed = t.get(&reports, &owner).await;
    assert_eq!(ids(&listed, "items", "id"), vec![id.clone()]);
    assert_eq!(listed.body["next_cursor"], Value::Null);

    // Reorder and recaption in one request; the title stays.
    let change = json!({"items": [{"photo_id": p[0], "caption": "West"}, {"photo_id": p[1]}, {"photo_id": p[2]}]});
    let edited = t.call(Method::PATCH, &url, Some(&owner), Some(change)).await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    assert_eq!(ids(&edited, "items", "photo_id"), [p[0].clone(), p[1].clone(), p[2].clone()]);
    assert_eq!(edited.body["items"][0]["caption"], "West");
    assert_eq!(edited.body["title"], "Roof survey");
    let cleared = t.call(Method::PATCH, &url, Some(&owner), Some(json!({"notes": null, "title": "Final"}))).await;
    assert_eq!((cleared.body["notes"].clone(), cleared.body["title"].clone()), (Value::Null, json!("Final")));
    assert_eq!(ids(&cleared, "items", "photo_id").len(), 3, "the selection untouched");

    // A photo in trash keeps its place, marked; the report goes to trash and back.
    assert_eq!(t.delete(&format!("/api/v1/workspaces/{ws}/photos/{}", p[1]), &owner).await.status, 204);
    let read = t.get(&url, &owner).await;
    assert!(read.body["photos"][1]["deleted_at"].is_string(), "{}", read.text);
    assert_eq!(t.delete(&url, &owner).await.status, 204);
    problem(&t.get(&url, &owner).await, 404, "not_found");
    assert_eq!(ids(&t.get(&reports, &owner).await, "items", "id"), Vec::<String>::new());
    let back = t.post(&format!("{url}/restore"), &owner, json!({})).await;
    assert_eq!((back.status, back.body["deleted_at"].clone()), (200, Value::Null), "{}", back.text);
    assert_eq!(t.delete(&url, &owner).await.status, 204);
    assert_eq!(t.post(&format!("{url}/purge"), &owner, json!({})).await.status, 204);
    problem(&t.post(&format!("{url}/restore"), &owner, json!({})).await, 404, "not_found");
    let photos = t.get(&format!("/api/v1/workspaces/{ws}/jobs/{job}/photos"), &owner).await;
    assert_eq!(ids(&photos, "items", "id").len(), 2, "purging a report leaves its photos");
}

#[actix_web::test]
async fn bad_report_input_is_a_problem_and_changes_nothing() {
    let t = test_app().await;
    let owner = t.user("owner").await;
    let ws = t.workspace(&owner, "Reports").await;
    let (job, other_job) = (t.job(&ws, &owner, "Roof").await, t.job(&ws, &owner, "Deck").await);
    let photo = t.photo(&ws, &owner, &job).await;
    let elsewhere = t.photo(&ws, &owner, &other_job).await;
    let theirs = {
        let stranger = t.user("stranger").await;
        let their_ws = t.workspace(&stranger, "Theirs").await;
        let their_job = t.job(&their_ws, &stranger, "Theirs").await;
        t.photo(&their_ws, &stranger, &their_job).await
    };
    let trashed = t.photo(&ws, &owner, &job).await;
    assert_eq!(t.delete(&format!("/api/v1/workspaces/{ws}/photos/{trashed}"), &owner).await.status, 204);
    let reports = format!("/api/v1/workspaces/{ws}/jobs/{job}/reports");
    let report = t.post(&reports, &owner, json!({"title": "Keep", "items": [{"photo_id": photo}]})).await.str("id");
    let url = format!("{reports}/{report}");
    let item = |id: &str| json!([{"photo_id": photo}, {"photo_id": id}]);
    let too_many: Vec<Value> =
        (0..201).map(|i| json!({"photo_id": format!("00000000-0000-7000-8000-{i:012}")})).collect();
    let cases: Vec<(Method, String, Value, u16, &str)> = vec![
        (Method::POST, reports.clone(), json!({"title": "x", "items": item(&elsewhere)}), 422, "validation_failed"),
        (Method::POST, reports.clone(), json!({"title": "x", "items": item(&theirs)}), 422, "validation_failed"),
        (Method::POST, reports.clone(), json!({"title": "x", "items": item(&trashed)}), 422, "validation_failed"),
        (Method::POST, reports.clone(), json!({"title": "x", "items": item(&photo)}), 422, "validation_failed"),
        (Method::POST, reports.clone(), json!({"title": "x", "items": item("not-an-id")}), 422, "validation_failed"),
        (Method::POST, reports.clone(), json!({"title": "x", "items": too_many}), 422, "validation_failed"),
        (Method::POST, reports.clone(), json!({"title": " ", "items": []}), 422, "validation_failed"),
        (Method::POST, reports.clone(), json!({"title": "x", "notes": "n".repeat(10_001)}), 422, "validation_failed"),
        (
            Method::POST,
            reports.clone(),
            json!({"title": "x", "items": [{"photo_id": photo, "caption": "c".repeat(2_001)}]}),
            422,
            "validation_failed",
        ),
        (Method::POST, reports.clone(), json!({"title": "x", "colour": "red"}), 400, "unknown_field"),
        (Method::POST, reports.clone(), json!({"items": []}), 400, "invalid_body"),
        (Method::PATCH, url.clone(), json!({"title": "Changed", "items": item(&elsewhere)}), 422, "validation_failed"),
        (Method::PATCH, url.clone(), json!({"items": [{"photo_id": photo, "extra": 1}]}), 400, "unknown_field"),
        (
            Method::PATCH,
            format!("/api/v1/workspaces/{ws}/jobs/{other_job}/reports/{report}"),
            json!({"title": "Moved"}),
            404,
            "not_found",
        ),
        (Method::PATCH, format!("{reports}/not-an-id"), json!({"title": "x"}), 400, "invalid_id"),
    ];
    for (method, path, body, status, code) in cases {
        let before = t.snapshot(&ws).await;
        let r = t.call(method.clone(), &path, Some(&owner), Some(body)).await;
        assert_eq!((r.status, r.code()), (status, Some(code)), "{method} {path}: {}", r.text);
        assert_eq!(t.snapshot(&ws).await, before, "{method} {path} changed something");
    }
    let kept = t.get(&url, &owner).await;
    assert_eq!((kept.body["title"].clone(), ids(&kept, "items", "photo_id")), (json!("Keep"), vec![photo]));
}

#[actix_web::test]
async fn the_html_rendering_is_escaped_strict_and_shows_only_live_photos() {
    let t = test_app().await;
    let owner = t.user("owner").await;
    let ws = t.workspace(&owner, "Reports").await;
    let job = t.job(&ws, &owner, "Roof").await;
    let (shown, trashed, processing) =
        (t.photo(&ws, &owner, &job).await, t.photo(&ws, &owner, &job).await, t.photo(&ws, &owner, &job).await);
    t.process(&ws, &shown).await;
    t.process(&ws, &trashed).await;
    let body = json!({
        "title": "Survey <b>bold</b>",
        "notes": "Line one\n<script>alert(1)</script>",
        "items": [
            {"photo_id": shown, "caption": "Gutter \"before\" & <after>"},
            {"photo_id": trashed, "caption": "Gone"},
            {"photo_id": processing, "caption": "Soon"},
        ],
    });
    let reports = format!("/api/v1/workspaces/{ws}/jobs/{job}/reports");
    let id = t.post(&reports, &owner, body).await.str("id");
    assert_eq!(t.delete(&format!("/api/v1/workspaces/{ws}/photos/{trashed}"), &owner).await.status, 204);
    let page = t.get(&format!("{reports}/{id}/html"), &owner).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(page.header("cache-control"), Some("private, no-store"));
    assert_eq!(page.header("x-robots-tag"), Some("noindex, nofollow"));
    assert!(page.text.contains(r#"<meta name="robots" content="noindex, nofollow">"#));
    let html = &page.text;
    assert!(
        html.contains("Survey &#60;b&#62;bold&#60;/b&#62;") || html.contains("Survey &lt;b&gt;bold&lt;/b&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>") && !html.contains("<b>bold"), "nothing the user wrote is markup");
    assert!(
        html.contains("Gutter &#34;before&#34; &#38; &#60;after&#62;")
            || html.contains("Gutter &quot;before&quot; &amp; &lt;after&gt;"),
        "{html}"
    );
    // Only the live, processed photo, by its stripped variants; the others are counted.
    let thumb = format!("/api/v1/workspaces/{ws}/photos/{shown}/content?variant=thumb");
    assert!(html.contains(&format!("src=\"{thumb}\"")), "{html}");
    assert!(
        !html.contains(&trashed) && !html.contains(&processing) && !html.contains("Gone") && !html.contains("Soon")
    );
    assert!(html.contains("2 photos of this report are no longer available or not processed yet."), "{html}");
    assert!(!html.contains("variant=original"));
    assert!(html.contains(&format!("href=\"{reports}/{id}/pdf\"")));
    // The CSP allows exactly the inline style the page carries, by its hash, and images
    // from this origin; nothing else (no script at all).
    let csp = page.header("content-security-policy").expect("csp");
    let style = html.split("<style>").nth(1).and_then(|s| s.split("</style>").next()).expect("a style element");
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(style.as_bytes()));
    assert_eq!(
        csp,
        format!(
            "default-src 'none'; img-src 'self'; style-src 'sha256-{hash}'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
        )
    );
    // The images it names load for the same reader.
    assert_eq!(t.get(&thumb, &owner).await.status, 200);
}

/// The text of `pdf` as poppler's `pdftotext` reads it, its `pdfinfo` and the list
/// of its images; fails loudly if poppler is not installed (scripts/test installs it).
fn poppler(pdf: &[u8]) -> (String, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, pdf).expect("write pdf");
    let run = |tool: &str, args: &[&str]| {
        let out = Command::new(tool)
            .args(args)
            .arg(&path)
            .args(if tool == "pdftotext" { &["-"][..] } else { &[][..] })
            .output();
        let out = out.unwrap_or_else(|e| panic!("{tool} (poppler-utils) is needed: scripts/test installs it ({e})"));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success() && stderr.is_empty(), "{tool} refused the PDF: {stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    (run("pdftotext", &["-layout"]), run("pdfinfo", &[]), run("pdfimages", &["-list"]))
}

#[actix_web::test]
async fn the_pdf_is_read_by_a_real_pdf_reader_with_the_large_photos_embedded() {
    let t = test_app().await;
    let owner = t.user("owner").await;
    let ws = t.workspace(&owner, "Reports").await;
    let job = t.job(&ws, &owner, "Roof").await;
    let (wide, tall, trashed) =
        (t.photo(&ws, &owner, &job).await, t.photo(&ws, &owner, &job).await, t.photo(&ws, &owner, &job).await);
    let (wide_jpeg, tall_jpeg) = (real_jpeg(320, 200), real_jpeg(150, 300));
    t.process_with(&ws, &wide, &wide_jpeg, &jpeg(16), (320, 200)).await;
    t.process_with(&ws, &tall, &tall_jpeg, &jpeg(16), (150, 300)).await;
    t.process(&ws, &trashed).await;
    let long_notes =
        (1..=80).map(|i| format!("Note line {i}: checked the flashing and the gutters.")).collect::<Vec<_>>();
    let body = json!({
        "title": "Roof survey – Café Müller",
        "notes": long_notes.join("\n"),
        "items": [
            {"photo_id": tall, "caption": "Chimney, “after” the repair"},
            {"photo_id": trashed, "caption": "Hidden"},
            {"photo_id": wide},
        ],
    });
    let reports = format!("/api/v1/workspaces/{ws}/jobs/{job}/reports");
    let id = t.post(&reports, &owner, body).await.str("id");
    assert_eq!(t.delete(&format!("/api/v1/workspaces/{ws}/photos/{trashed}"), &owner).await.status, 204);

    let r = t.get(&format!("{reports}/{id}/pdf"), &owner).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/pdf"));
    assert_eq!(r.header("content-disposition"), Some("attachment; filename=\"Roof-survey-Caf-M-ller.pdf\""));
    assert_eq!(r.header("cache-control"), Some("private, no-store"));
    // The stored JPEGs are inside, byte for byte (embedded, not re-encoded).
    let find = |needle: &[u8]| r.bytes.windows(needle.len()).any(|w| w == needle);
    assert!(find(&wide_jpeg) && find(&tall_jpeg));

    let (text, info, images) = poppler(&r.bytes);
    let field = |name: &str| info.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).unwrap_or_default();
    // Two title pages (80 note lines do not fit on one), then one page per shown photo.
    assert_eq!(field("Pages:"), "4", "{info}");
    assert_eq!(field("Title:"), "Roof survey – Café Müller", "{info}");
    assert!(text.contains("Roof survey – Café Müller"), "{text}");
    assert!(text.contains("Note line 1: checked") && text.contains("Note line 80: checked"), "{text}");
    assert!(text.contains("1 photo of this report is not included"), "{text}");
    assert!(text.contains("Photo 1 of 2") && text.contains("Photo 2 of 2"));
    assert!(text.contains("Chimney, “after” the repair"), "{text}");
    assert!(!text.contains("Hidden"));
    // The images, in report order, at their own size, as JPEG.
    let listed: Vec<Vec<&str>> = images.lines().skip(2).map(|l| l.split_whitespace().collect()).collect();
    let summary: Vec<(&str, &str, &str, &str)> = listed.iter().map(|c| (c[0], c[3], c[4], c[8])).collect();
    assert_eq!(summary, [("3", "150", "300", "jpeg"), ("4", "320", "200", "jpeg")], "{images}");
}
