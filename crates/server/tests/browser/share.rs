//! Share links opened in a browser that never signed in: the API client signs in
//! alone (`sign_in_api`), so the browser holds no session and stands for anyone the
//! link was sent to.

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{
    Api, Browser, CAPTIONS, Report, Server, TITLE, in_browser, plain_client, report_of_two_photos, serve, sign_in_api,
};

/// A server whose worker processes photos at once, the owner's API, and a report of two
/// processed photos (1200 × 600 sideways, so 600 × 1200 upright: small, as four of
/// these tests process theirs at once).
async fn report_to_share() -> (Server, Api, Report) {
    let server = serve(&[("WORKVAULT__WORKER__POLL_SECS", "1")]);
    let api = sign_in_api(&server).await;
    let report = report_of_two_photos(&api, (1200, 600)).await;
    (server, api, report)
}

/// A new share link of `report`, with `options` (`password`, `allow_download`,
/// `expires_at`): its id, its full URL and the API's answer.
async fn share(api: &Api, report: &Report, options: Value) -> (String, String, Value) {
    let mut body = json!({"target": "report", "id": report.id, "job_id": report.job});
    body.as_object_mut().unwrap().extend(options.as_object().unwrap().clone());
    let made = api.post(&format!("/workspaces/{}/share-links", report.ws), body).await;
    let url = made["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/s/", api.base)), "{url}");
    (made["id"].as_str().unwrap().to_owned(), url, made)
}

/// A link's recorded views as `(viewed, browser, network)`, oldest first.
async fn views(api: &Api, report: &Report, link: &str) -> Vec<(String, String, String)> {
    let list = api.get(&format!("/workspaces/{}/share-links/{link}/views", report.ws)).await;
    let mut views: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let field = |k: &str| v[k].as_str().unwrap().to_owned();
            (field("viewed"), field("browser"), field("network"))
        })
        .collect();
    views.reverse();
    views
}

/// The shared report is on the page: title, notes, both captions, both images loaded
/// through the link, and the robots meta.
async fn shows_the_report(browser: &Browser, url: &str) {
    assert_eq!(browser.status().await, 200);
    assert_eq!(browser.heading().await, TITLE);
    assert_eq!(browser.client.title().await.unwrap(), format!("{TITLE} · Workvault"));
    assert!(browser.text().await.contains("Low tide, 09:30."));
    assert_eq!(browser.captions().await, CAPTIONS, "both captions, in order, as text");
    // The images come through the link (a stranger has no session for the member URLs).
    let path = url.split_once("/s/").map(|(_, token)| format!("/s/{token}/photos/")).unwrap();
    let srcs = browser.js("return [...document.images].map(i => i.getAttribute('src'))", vec![]).await;
    for src in srcs.as_array().unwrap() {
        assert!(src.as_str().unwrap().starts_with(&path), "an image outside the link: {src}");
    }
    for (i, (w, h)) in browser.images_loaded(2).await.into_iter().enumerate() {
        assert!(w > 0 && h > w, "image {i}: {w} × {h} (upright 600 × 1200 photos)");
    }
    assert_eq!(browser.robots().await, "noindex, nofollow");
}

/// The page is one of the link-refused pages: `status`, `heading`, noindex, nothing of
/// the report.
async fn refused(browser: &Browser, status: u16, heading: &str) {
    assert_eq!((browser.status().await, browser.heading().await), (status, heading.to_owned()));
    assert_eq!(browser.client.title().await.unwrap(), format!("{heading} · Workvault"));
    assert_eq!(browser.robots().await, "noindex, nofollow");
    let text = browser.text().await;
    assert!(!text.contains(TITLE) && !text.contains(CAPTIONS[0]), "{text}");
    assert_eq!(browser.js("return document.images.length", vec![]).await, 0);
}

#[tokio::test]
async fn a_shared_report_opens_for_a_stranger_and_the_view_is_recorded() {
    let (server, api, report) = report_to_share().await;
    let (link, url, made) = share(&api, &report, json!({})).await;
    assert_eq!((&made["allow_download"], &made["password"]), (&json!(false), &json!(false)));
    in_browser("share-report", async |browser| {
        browser.client.goto(&url).await.unwrap();
        let cookies = browser.client.get_all_cookies().await.unwrap();
        assert!(cookies.is_empty(), "a stranger's browser, yet it holds {cookies:?}");
        shows_the_report(browser, &url).await;
        // Downloads are off: no link on the page, and the address refused.
        let links = browser.client.find_all(Locator::LinkText("Download PDF")).await.unwrap();
        assert!(links.is_empty(), "downloads are off, yet the page offers a Download PDF link");
        let to_download = browser.js("return document.querySelectorAll('a[href$=\"/download\"]').length", vec![]).await;
        assert_eq!(to_download, 0);
        browser.screenshot("share-report").await;
        browser.js("document.querySelectorAll('figcaption')[1].scrollIntoView({block: 'center'})", vec![]).await;
        browser.screenshot("share-report-caption").await;

        // A thumbnail links to the large variant, which opens too, at least as large, and
        // is asked for with no referrer (the page's address holds the token).
        let thumb_width = browser.js("return document.images[0].naturalWidth", vec![]).await;
        let first = browser.client.find(Locator::Css("figure a")).await.unwrap();
        let large = first.attr("href").await.unwrap().unwrap_or_default();
        assert!(large.ends_with("/large"), "{large}");
        first.click().await.unwrap();
        browser
            .client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_url(&format!("{}{large}", server.base).parse().unwrap())
            .await
            .unwrap();
        assert_eq!(browser.status().await, 200);
        assert_eq!(browser.js("return document.referrer", vec![]).await, "", "Referrer-Policy: no-referrer");
        let large_width = browser.images_loaded(1).await[0].0;
        assert!(large_width >= thumb_width.as_u64().unwrap(), "large {large_width}, thumb {thumb_width}");

        browser.client.goto(&format!("{url}/download")).await.unwrap();
        assert_eq!((browser.status().await, browser.heading().await.as_str()), (403, "Downloads are off"));
        assert!(browser.text().await.contains("did not allow downloads"));
        assert_eq!(browser.robots().await, "noindex, nofollow");
        browser.screenshot("share-download-off").await;
    })
    .await;

    // One view: the page, in Chrome, from the loopback network. Images and the refused
    // download are not views.
    let page = |browser: &str| ("page".to_owned(), browser.to_owned(), "127.0.0.0/24".to_owned());
    assert_eq!(views(&api, &report, &link).await, [page("Chrome")]);

    // The headers of the public page, as any client gets them.
    let res = plain_client().get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let header = |name: &str| res.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert_eq!(header("cache-control"), "private, no-store");
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert_eq!(header("x-robots-tag"), "noindex, nofollow");
    let csp = header("content-security-policy");
    assert!(csp.contains("default-src 'none'") && csp.contains("img-src 'self'"), "{csp}");
    assert_eq!(views(&api, &report, &link).await, [page("Chrome"), page("other")]);
}

#[tokio::test]
async fn a_password_link_opens_with_the_right_password_only() {
    let (_server, api, report) = report_to_share().await;
    let password = "correct horse battery";
    let (_, url, _) = share(&api, &report, json!({"password": password})).await;
    in_browser("share-password", async |browser| {
        // Nothing of it before the password: not even an image whose address is known.
        browser.client.goto(&format!("{url}/photos/{}/thumb", report.photos[0])).await.unwrap();
        assert_eq!((browser.status().await, browser.heading().await.as_str()), (401, "Password needed"));

        browser.client.goto(&url).await.unwrap();
        assert_eq!((browser.status().await, browser.heading().await.as_str()), (200, "This link is protected"));
        assert_eq!(browser.client.title().await.unwrap(), "Password needed · Workvault");
        assert_eq!(browser.robots().await, "noindex, nofollow");
        assert!(!browser.text().await.contains(TITLE));
        assert_eq!(browser.js("return document.images.length", vec![]).await, 0);
        browser.screenshot("share-password-form").await;

        let submit = async |typed: &str| {
            let field = browser.client.find(Locator::Css("input[type=password]")).await.unwrap();
            field.send_keys(typed).await.unwrap();
            browser.client.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
        };
        submit("not the password").await;
        let alert = browser.client.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css("#wrong-password"));
        assert_eq!(alert.await.unwrap().text().await.unwrap(), "That password is not right.");
        assert_eq!((browser.status().await, browser.heading().await.as_str()), (401, "This link is protected"));
        assert!(!browser.text().await.contains(TITLE));
        browser.screenshot("share-password-wrong").await;

        submit(password).await;
        browser.client.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css("figcaption")).await.unwrap();
        // Back on the link's own address (303 after the POST), now unlocked.
        assert_eq!(browser.client.current_url().await.unwrap().as_str(), url);
        shows_the_report(browser, &url).await;
        let proof = browser.client.get_named_cookie("wv_share").await.expect("the unlock cookie");
        let path = url.split_once("/s/").map(|(_, token)| format!("/s/{token}")).unwrap();
        assert_eq!(
            (proof.http_only(), proof.path()),
            (Some(true), Some(path.as_str())),
            "HttpOnly, for this link only"
        );
        browser.screenshot("share-password-open").await;
    })
    .await;
}

#[tokio::test]
async fn a_link_with_downloads_offers_the_pdf() {
    let (server, api, report) = report_to_share().await;
    let (link, url, _) = share(&api, &report, json!({"allow_download": true})).await;
    in_browser("share-download", async |browser| {
        browser.client.goto(&url).await.unwrap();
        shows_the_report(browser, &url).await;
        let download = browser.client.find(Locator::LinkText("Download PDF")).await.expect("a Download PDF link");
        let href = download.attr("href").await.unwrap().unwrap_or_default();
        assert_eq!(format!("{}{href}", server.base), format!("{url}/download"));
        browser.screenshot("share-download").await;

        // Any client with the link gets the PDF, no cookie needed.
        let res = plain_client().get(format!("{}{href}", server.base)).send().await.unwrap();
        let header = |name: &str| res.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        assert_eq!((res.status(), header("content-type")), (StatusCode::OK, "application/pdf".to_owned()));
        assert_eq!(header("cache-control"), "private, no-store");
        assert!(
            header("content-disposition").starts_with("attachment; filename=\""),
            "{}",
            header("content-disposition")
        );
        let pdf = res.bytes().await.unwrap();
        assert!(pdf.starts_with(b"%PDF-") && pdf.trim_ascii_end().ends_with(b"%%EOF"), "a whole PDF");

        // And the browser, clicking it, saves it.
        download.click().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let saved = loop {
            let done = std::fs::read_dir(browser.downloads())
                .into_iter()
                .flatten()
                .flatten()
                .find(|e| e.path().extension().is_some_and(|x| x == "pdf"));
            if let Some(file) = done {
                break std::fs::read(file.path()).unwrap();
            }
            assert!(Instant::now() < deadline, "the browser saved no PDF within 20 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(saved.starts_with(b"%PDF-"), "the saved file is a PDF");
    })
    .await;

    let seen: Vec<(String, String)> = views(&api, &report, &link).await.into_iter().map(|(v, b, _)| (v, b)).collect();
    let view = |v: &str, b: &str| (v.to_owned(), b.to_owned());
    assert_eq!(seen, [view("page", "Chrome"), view("download", "other"), view("download", "Chrome")]);
}

#[tokio::test]
async fn revoked_expired_and_emptied_links_say_so() {
    let (server, api, report) = report_to_share().await;
    in_browser("share-ended", async |browser| {
        // Revoked: it worked, then it is "not valid", like any unknown link.
        let (link, url, _) = share(&api, &report, json!({})).await;
        browser.client.goto(&url).await.unwrap();
        assert_eq!(browser.heading().await, TITLE);
        api.delete(&format!("/workspaces/{}/share-links/{link}", report.ws)).await;
        browser.client.refresh().await.unwrap();
        refused(browser, 404, "This link is not valid").await;
        browser.screenshot("share-revoked").await;
        browser.client.goto(&format!("{}/s/no-such-link", server.base)).await.unwrap();
        refused(browser, 404, "This link is not valid").await;

        // Expired: a link that ends 5 s from now works until then.
        let ends = (Utc::now() + chrono::Duration::seconds(5)).to_rfc3339_opts(SecondsFormat::Millis, true);
        let (_, url, made) = share(&api, &report, json!({"expires_at": ends})).await;
        let ends: DateTime<Utc> = made["expires_at"].as_str().unwrap().parse().unwrap();
        browser.client.goto(&url).await.unwrap();
        assert!(Utc::now() < ends, "the set-up took too long to see the link before it ends");
        assert_eq!(browser.heading().await, TITLE);
        let left = (ends - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(left + Duration::from_millis(300)).await;
        browser.client.refresh().await.unwrap();
        refused(browser, 410, "This link has expired").await;
        browser.screenshot("share-expired").await;

        // The report trashed since: the link answers that it is gone.
        let (_, url, _) = share(&api, &report, json!({})).await;
        api.delete(&format!("/workspaces/{}/jobs/{}/reports/{}", report.ws, report.job, report.id)).await;
        browser.client.goto(&url).await.unwrap();
        refused(browser, 410, "This is no longer available").await;
        browser.screenshot("share-gone").await;
    })
    .await;
}
