//! Browser: the real binary's pages in headless Chromium, driven through WebDriver
//! (chromedriver, started by `scripts/test` through `scripts/peers/chromium.sh`, which
//! exports `WORKVAULT_TEST_WEBDRIVER_URL`). Each test opens its own browser with a fresh
//! profile and leaves screenshots under `target/test-output/browser/` (a `-failed` one
//! too when it fails).
//!
//! - [`harness`]: the server in a temp dir, the browser, the API client, a report of two
//!   processed photos.
//! - [`pages`]: a member's pages (home after the sign-in link, a report).
//! - [`share`]: share links opened by a browser that never signed in.

#![allow(clippy::unwrap_used)]

mod harness;
mod pages;
mod share;
