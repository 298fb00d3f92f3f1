//! Assets over HTTP: made, edited, listed; CSV import (dry run, idempotent re-import,
//! every kind of bad file refused whole with row and column) and the streamed export
//! that imports back unchanged.

use actix_web::http::Method;
use actix_web::test::TestRequest;
use serde_json::json;

use crate::harness::{Reply, User, test_app};

fn import_path(ws: &str, dry_run: bool) -> String {
    format!("/api/v1/workspaces/{ws}/assets/import{}", if dry_run { "?dry_run=true" } else { "" })
}

async fn import<S, B>(t: &crate::harness::TestApp<S>, ws: &str, by: &User, csv: &[u8], dry_run: bool) -> Reply
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    t.call_typed(Method::POST, &import_path(ws, dry_run), by, "text/csv; charset=utf-8", csv.to_vec()).await
}

#[actix_web::test]
async fn assets_import_check_first_write_once_and_export_back_unchanged() {
    let t = test_app().await;
    let (owner, member) = (t.user("owner").await, t.user("member").await);
    let ws = t.workspace(&owner, "Assets").await;
    t.join(&ws, &owner, &member, "member").await;
    let fields = format!("/api/v1/workspaces/{ws}/asset-fields");
    let r = t.post(&fields, &owner, json!({"key": "room", "label": "Room"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let assets = format!("/api/v1/workspaces/{ws}/assets");
    let body =
        json!({"name": "Ladder", "cost": "149.9", "assignee_email": "member@example.test", "custom": {"room": "B12"}});
    let made = t.post(&assets, &member, body).await;
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(
        (made.str("cost"), made.str("status"), made.body["custom"]["room"].clone()),
        ("149.90".into(), "in_use".into(), json!("B12"))
    );
    assert_eq!(made.str("assignee_email"), "member@example.test");
    let body = json!({"name": "Laptop;=1+1;", "notes": "tab\there|@SUM(1)"});
    let made = t.post(&assets, &member, body).await;
    assert_eq!(made.status, 201, "{}", made.text);
    let bad = t.post(&assets, &member, json!({"name": "Drill", "cost": "-5"})).await;
    assert_eq!((bad.status, bad.code()), (422, Some("validation_failed")), "{}", bad.text);

    let csv = "\u{feff}NAME,Tag,Status,Cost,Custom.Room,Notes\r\nDrill,D-7,In Stock,89,Store,'=SUM(A1)\r\nSaw,S-1,,,,\"cuts, well\"\r\n";
    let before = t.snapshot(&ws).await;
    let dry = import(&t, &ws, &owner, csv.as_bytes(), true).await;
    assert_eq!(dry.status, 200, "{}", dry.text);
    assert_eq!(dry.body, json!({"dry_run": true, "rows": 2, "created": 2, "updated": 0, "unchanged": 0}));
    assert_eq!(t.snapshot(&ws).await, before, "a dry run writes nothing");
    let done = import(&t, &ws, &owner, csv.as_bytes(), false).await;
    assert_eq!(
        done.body,
        json!({"dry_run": false, "rows": 2, "created": 2, "updated": 0, "unchanged": 0}),
        "{}",
        done.text
    );

    let export = t.get(&format!("{assets}/export"), &owner).await;
    assert_eq!(export.status, 200, "{}", export.text);
    assert_eq!(export.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(export.header("content-disposition").is_some_and(|d| d.starts_with("attachment; filename=\"assets-")));
    assert_eq!(export.header("cache-control"), Some("no-store"));
    let lines: Vec<&str> = export.text.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "id,name,tag,serial,category,status,location,assignee_email,purchase_date,cost,notes,custom.room"
    );
    assert_eq!(lines.len(), 6, "header, four assets, and the end: {}", export.text);
    // Rows come in id order; the test clock stands still, so find each by its content.
    let has = |tail: &str| lines[1..5].iter().any(|l| l.ends_with(tail));
    assert!(has(",Ladder,,,,in_use,,member@example.test,,149.90,,B12"), "{}", export.text);
    assert!(has(",Drill,D-7,,,in_stock,,,,89.00,'=SUM(A1),Store"), "{}", export.text);
    assert!(has(",Saw,S-1,,,in_use,,,,,\"cuts, well\","), "{}", export.text);
    // A formula after a `;`, tab or `|` inside a cell is escaped, and the cell quoted.
    assert!(has(",\"Laptop;'=1+1;\",,,,in_use,,,,,\"tab\there|'@SUM(1)\","), "{}", export.text);

    // The export imports back as it is: every row names its asset and nothing changes.
    let again = import(&t, &ws, &owner, export.text.as_bytes(), false).await;
    assert_eq!(
        again.body,
        json!({"dry_run": false, "rows": 4, "created": 0, "updated": 0, "unchanged": 4}),
        "{}",
        again.text
    );
    assert_eq!(t.get(&format!("{assets}/export"), &owner).await.text, export.text);

    let audit = t.get(&format!("/api/v1/workspaces/{ws}/audit"), &owner).await;
    let imported: Vec<_> =
        audit.body["items"].as_array().expect("items").iter().filter(|e| e["action"] == "assets.imported").collect();
    assert_eq!(imported.len(), 2, "two imports written, the dry run not");
    assert_eq!(imported[1]["details"]["created"], json!(2));
    assert!(audit.text.contains("assets.exported"));

    // Members edit assets but neither import nor export them.
    let r = import(&t, &ws, &member, csv.as_bytes(), false).await;
    assert_eq!((r.status, r.code()), (403, Some("role_insufficient")));
    let r = t.get(&format!("{assets}/export"), &member).await;
    assert_eq!((r.status, r.code()), (403, Some("role_insufficient")));
}

/// Runs an import that must be refused: 422 `csv_invalid`, the listed `(row, column,
/// code)`s, and nothing written.
async fn refused<S, B>(
    t: &crate::harness::TestApp<S>,
    ws: &str,
    by: &User,
    csv: &[u8],
    want: &[(u64, Option<&str>, &str)],
) where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let before = t.snapshot(ws).await;
    let r = import(t, ws, by, csv, false).await;
    assert_eq!((r.status, r.code()), (422, Some("csv_invalid")), "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let got: Vec<(u64, Option<&str>, &str)> = r.body["row_errors"]
        .as_array()
        .expect("row_errors")
        .iter()
        .map(|e| (e["row"].as_u64().unwrap_or(0), e["column"].as_str(), e["code"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(got, want, "{}", r.text);
    assert_eq!(r.body["error_count"], json!(want.len()));
    assert_eq!(t.snapshot(ws).await, before, "a refused file changed something: {}", r.text);
}

#[actix_web::test]
async fn every_kind_of_bad_file_is_refused_whole_with_row_and_column() {
    let t = test_app().await;
    let owner = t.user("owner").await;
    let ws = t.workspace(&owner, "Bad files").await;
    let first = t.asset(&ws, &owner, "Existing").await;

    refused(&t, &ws, &owner, b"name;tag\r\nLadder;L-1\r\n", &[(1, None, "delimiter")]).await;
    refused(&t, &ws, &owner, b"name,colour\r\nLadder,red\r\n", &[(1, None, "unknown_column")]).await;
    refused(&t, &ws, &owner, b"tag\r\nL-1\r\n", &[(1, None, "missing_column")]).await;
    refused(&t, &ws, &owner, b"", &[(0, None, "empty")]).await;
    refused(
        &t,
        &ws,
        &owner,
        b"name,tag\r\nLadder,L-1\r\nSaw\r\nDrill,D-1,extra\r\n",
        &[(3, None, "ragged_row"), (4, None, "ragged_row")],
    )
    .await;
    let cells = "name,purchase_date,cost,status\r\nA,2025-13-01,1.5,in_use\r\nB,2025-01-01,12.345,broken\r\nC,14/07/2025,1e3,\r\n";
    refused(
        &t,
        &ws,
        &owner,
        cells.as_bytes(),
        &[
            (2, Some("purchase_date"), "invalid_date"),
            (3, Some("status"), "invalid_status"),
            (3, Some("cost"), "invalid_number"),
            (4, Some("purchase_date"), "invalid_date"),
            (4, Some("cost"), "invalid_number"),
        ],
    )
    .await;
    let dup = format!("id,name\r\n{first},One\r\n{first},Two\r\n");
    refused(&t, &ws, &owner, dup.as_bytes(), &[(3, Some("id"), "duplicate_id")]).await;
    refused(&t, &ws, &owner, b"id,name\r\nnot-an-id,One\r\n", &[(2, Some("id"), "invalid_id")]).await;
    refused(&t, &ws, &owner, b"name,notes\r\nLadder,caf\xe9\r\n", &[(2, Some("notes"), "encoding")]).await;
    refused(&t, &ws, &owner, b"name,notes\r\nLadder,=HYPERLINK(\"x\")\r\n", &[(2, Some("notes"), "formula")]).await;
    refused(&t, &ws, &owner, b"name,notes\r\nLadder,@cmd\r\n", &[(2, Some("notes"), "formula")]).await;
    let long = format!("name,notes\r\nLadder,{}\r\n", "x".repeat(70 * 1024));
    refused(&t, &ws, &owner, long.as_bytes(), &[(2, None, "record_too_long")]).await;

    // Many bad rows: 100 listed, all counted.
    let mut many = String::from("name,cost\r\n");
    for i in 0..150 {
        many.push_str(&format!("Item {i},-{i}\r\n"));
    }
    let before = t.snapshot(&ws).await;
    let r = import(&t, &ws, &owner, many.as_bytes(), false).await;
    assert_eq!(
        (r.status, r.body["row_errors"].as_array().map(Vec::len), r.body["error_count"].clone()),
        (422, Some(100), json!(150))
    );
    assert_eq!(t.snapshot(&ws).await, before);

    // Not CSV, too large by its header, too large as it streams.
    let path = import_path(&ws, false);
    let r = t.call_typed(Method::POST, &path, &owner, "application/json", b"{}".to_vec()).await;
    assert_eq!((r.status, r.code()), (415, Some("unsupported_media_type")));
    let r = t.call_typed(Method::POST, &path, &owner, "text/csv; charset=latin1", b"name\r\nA\r\n".to_vec()).await;
    assert_eq!((r.status, r.code()), (415, Some("unsupported_media_type")));
    let huge = TestRequest::post()
        .uri(&path)
        .insert_header(("cookie", owner.cookie.clone()))
        .insert_header(("content-type", "text/csv"))
        .set_payload("name\r\nA\r\n")
        // A 2 GiB upload announced: refused before a byte of it is read.
        .insert_header(("content-length", "2147483648"));
    let r = t.send(huge).await;
    assert_eq!((r.status, r.code()), (413, Some("payload_too_large")), "{}", r.text);
    let mut big = String::from("name\r\n");
    while big.len() <= 1 << 20 {
        big.push_str("A long enough asset name\r\n");
    }
    let r = import(&t, &ws, &owner, big.as_bytes(), false).await;
    assert_eq!((r.status, r.code()), (413, Some("payload_too_large")));
    assert_eq!(t.snapshot(&ws).await, before, "nothing of the refused files was written");
}
