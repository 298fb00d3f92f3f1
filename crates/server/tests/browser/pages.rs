//! A member's pages: home after the sign-in link, a report.

use fantoccini::Locator;
use reqwest::StatusCode;

use crate::harness::{CAPTIONS, OWNER, TITLE, in_browser, report_of_two_photos, serve, sign_in};

#[tokio::test]
async fn the_home_page_shows_who_is_signed_in() {
    let server = serve(&[]);
    in_browser("home-signed-in", async |browser| {
        sign_in(browser, &server).await;
        let who = browser.client.find(Locator::Css("main strong")).await.unwrap().text().await.unwrap();
        assert_eq!(who, OWNER);
        assert!(browser.text().await.contains(&format!("Signed in as {OWNER}.")));
        assert_eq!(browser.client.title().await.unwrap(), "Home · Workvault");
        browser.screenshot("home-signed-in").await;
    })
    .await;
}

#[tokio::test]
async fn a_report_page_shows_its_photos_in_a_real_browser() {
    let server = serve(&[("WORKVAULT__WORKER__POLL_SECS", "1")]);
    in_browser("report", async |browser| {
        let api = sign_in(browser, &server).await;
        let base = &server.base;
        let report = report_of_two_photos(&api, (2400, 1200)).await;
        let html_url = format!("{base}{}", report.made["html_url"].as_str().unwrap());
        let pdf_url = report.made["pdf_url"].as_str().unwrap();

        browser.client.goto(&html_url).await.unwrap();
        assert_eq!(browser.heading().await, TITLE);
        assert_eq!(browser.client.title().await.unwrap(), "Pier inspection · Workvault");
        let text = browser.text().await;
        assert!(text.contains("Low tide, 09:30."), "{text}");
        assert_eq!(browser.captions().await, CAPTIONS, "both captions, in order, as text (escaped, not markup)");

        // Every image loads: the worker's stripped variants of an upright 1200 × 2400 photo.
        for (i, (w, h)) in browser.images_loaded(2).await.into_iter().enumerate() {
            assert!(w > 0 && h > w, "image {i}: {w} × {h}");
        }

        // The inline style applied: the CSP allows it by its hash.
        let max_width = browser.js("return getComputedStyle(document.querySelector('main')).maxWidth", vec![]).await;
        assert!(
            max_width.as_str().is_some_and(|w| w != "none"),
            "the report style did not apply: max-width {max_width}"
        );
        let download = browser.client.find(Locator::LinkText("Download PDF")).await.expect("a Download PDF link");
        let href = download.attr("href").await.unwrap().unwrap_or_default();
        assert_eq!(href, pdf_url);
        let pdf = api.http.get(format!("{base}{href}")).send().await.unwrap();
        assert_eq!(
            (pdf.status(), pdf.headers()["content-type"].to_str().unwrap()),
            (StatusCode::OK, "application/pdf")
        );
        let robots = browser.robots().await;
        assert!(robots.contains("noindex"), "robots: {robots}");

        let shot = browser.screenshot("report").await;
        assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "a screenshot with something on it");
        browser.js("document.querySelectorAll('figcaption')[1].scrollIntoView({block: 'center'})", vec![]).await;
        browser.screenshot("report-caption").await;
    })
    .await;
}
