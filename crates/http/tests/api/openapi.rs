//! The OpenAPI document: every route is in it, everything in it is routed, and it and
//! the error-code table match their checked-in copies under `docs/`.

use std::path::PathBuf;

use actix_web::http::Method;
use actix_web::test::TestRequest;

use crate::harness::test_app;

fn docs(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs").join(file)
}

/// Compares `actual` with a checked-in file; `WORKVAULT_BLESS=1` rewrites the file.
fn snapshot(file: &str, actual: &str) {
    let path = docs(file);
    if std::env::var_os("WORKVAULT_BLESS").is_some() {
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "{} is out of date: run `WORKVAULT_BLESS=1 cargo test -p workvault-http --test api openapi` and review the diff",
        path.display()
    );
}

/// The resource map of API.md that this server implements.
const API_MD_ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/auth/link/{token}"),
    ("post", "/auth/link/{token}"),
    ("get", "/api/v1/session"),
    ("delete", "/api/v1/session"),
    ("post", "/api/v1/workspaces"),
    ("get", "/api/v1/workspaces"),
    ("get", "/api/v1/workspaces/{ws}"),
    ("patch", "/api/v1/workspaces/{ws}"),
    ("get", "/api/v1/workspaces/{ws}/members"),
    ("patch", "/api/v1/workspaces/{ws}/members/{user}"),
    ("delete", "/api/v1/workspaces/{ws}/members/{user}"),
    ("post", "/api/v1/workspaces/{ws}/ownership"),
    ("get", "/api/v1/workspaces/{ws}/members/{user}/sessions"),
    ("delete", "/api/v1/workspaces/{ws}/members/{user}/sessions/{session}"),
    ("post", "/api/v1/workspaces/{ws}/invites"),
    ("get", "/api/v1/workspaces/{ws}/invites"),
    ("delete", "/api/v1/workspaces/{ws}/invites/{id}"),
    ("post", "/api/v1/invites/{token}/accept"),
    ("post", "/api/v1/workspaces/{ws}/jobs"),
    ("get", "/api/v1/workspaces/{ws}/jobs"),
    ("get", "/api/v1/workspaces/{ws}/jobs/{job}"),
    ("patch", "/api/v1/workspaces/{ws}/jobs/{job}"),
    ("delete", "/api/v1/workspaces/{ws}/jobs/{job}"),
    ("put", "/api/v1/workspaces/{ws}/jobs/{job}/grants/{user}"),
    ("delete", "/api/v1/workspaces/{ws}/jobs/{job}/grants/{user}"),
    ("get", "/api/v1/workspaces/{ws}/audit"),
    ("get", "/api/v1/workspaces/{ws}/audit/verify"),
    ("get", "/api/v1/openapi.json"),
];

fn operations(doc: &serde_json::Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                ops.push((method.to_owned(), path.clone()));
            }
        }
    }
    ops
}

#[actix_web::test]
async fn every_route_of_the_resource_map_is_documented() {
    let t = test_app().await;
    let r = t.send(TestRequest::get().uri("/api/v1/openapi.json")).await;
    assert_eq!(r.status, 200);
    let ops = operations(&r.body);
    for (method, path) in API_MD_ROUTES {
        assert!(
            ops.contains(&((*method).into(), (*path).into())),
            "{method} {path} is missing from the OpenAPI document"
        );
    }
    assert_eq!(r.body["openapi"].as_str().map(|v| v.starts_with("3.")), Some(true));
}

#[actix_web::test]
async fn everything_documented_is_routed() {
    let t = test_app().await;
    let doc = serde_json::to_value(workvault_http::openapi()).expect("json");
    let ops = operations(&doc);
    assert!(ops.len() >= API_MD_ROUTES.len());
    let id = "01900000-0000-7000-8000-000000000000";
    let token = "A".repeat(43);
    for (method, path) in ops {
        let concrete = ["{ws}", "{user}", "{job}", "{id}", "{session}"]
            .iter()
            .fold(path.replace("{token}", &token), |p, param| p.replace(param, id));
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let r = t.send(TestRequest::default().method(m).uri(&concrete)).await;
        assert!(
            !matches!(r.code(), Some("route_not_found" | "method_not_allowed")),
            "{method} {path} is documented but not routed ({concrete} → {} {})",
            r.status,
            r.text
        );
    }
}

#[test]
fn the_openapi_document_matches_docs_openapi_json() {
    let doc = workvault_http::openapi();
    let mut text = serde_json::to_string_pretty(&doc).expect("json");
    text.push('\n');
    snapshot("openapi.json", &text);
}

#[test]
fn the_error_codes_match_docs_api_errors_md() {
    let mut table = String::from("| code | status | title |\n| --- | --- | --- |\n");
    for c in workvault_http::problem::CODES {
        table.push_str(&format!("| `{}` | {} | {} |\n", c.code, c.status, c.title));
    }
    let path = docs("api-errors.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let (start, end) = ("<!-- codes:start -->\n", "<!-- codes:end -->");
    let (Some(a), Some(b)) = (text.find(start), text.find(end)) else {
        panic!("{} must hold the code table between {start:?} and {end:?}", path.display());
    };
    let current = &text[a + start.len()..b];
    if std::env::var_os("WORKVAULT_BLESS").is_some() {
        let updated = format!("{}{table}{}", &text[..a + start.len()], &text[b..]);
        std::fs::write(&path, updated).expect("write");
        return;
    }
    assert_eq!(current, table, "docs/api-errors.md lists other codes than problem::CODES");
    let mut seen = std::collections::HashSet::new();
    for c in workvault_http::problem::CODES {
        assert!(seen.insert(c.code), "duplicate code {}", c.code);
        assert!(c.code.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'), "{} is not snake_case", c.code);
    }
}
