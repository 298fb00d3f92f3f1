//! Photos over HTTP: upload, list, metadata, content with ranges and `ETag`, trash,
//! restore, purge, and each bad input as its own problem that stores nothing.

use actix_web::http::Method;
use actix_web::test::TestRequest;
use sha2::{Digest, Sha256};

use crate::harness::{jpeg, test_app};

fn problem(r: &crate::harness::Reply, status: u16, code: &str) {
    assert_eq!((r.status, r.code()), (status, Some(code)), "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
}

#[actix_web::test]
async fn a_photo_goes_up_comes_down_whole_or_in_part_and_through_trash() {
    let t = test_app().await;
    let owner = t.user("owner").await;
    let ws = t.workspace(&owner, "Photos").await;
    let job = t.job(&ws, &owner, "Roof").await;
    let bytes = jpeg(70_000);
    let up = t
        .call_raw(
            Method::POST,
            &format!("/api/v1/workspaces/{ws}/jobs/{job}/photos?file_name=roof.jpg"),
            &owner,
            bytes.clone(),
        )
        .await;
    assert_eq!(up.status, 201, "{}", up.text);
    let id = up.str("id");
    assert_eq!(up.header("location"), Some(format!("/api/v1/workspaces/{ws}/photos/{id}").as_str()));
    assert_eq!(up.body["type"], "jpeg");
    assert_eq!(up.body["media_type"], "image/jpeg");
    assert_eq!(up.body["size"], bytes.len());
    assert_eq!(up.body["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert_eq!(up.body["file_name"], "roof.jpg");
    assert_eq!(up.body["content_url"], format!("/api/v1/workspaces/{ws}/photos/{id}/content"));

    let list = t.get(&format!("/api/v1/workspaces/{ws}/jobs/{job}/photos"), &owner).await;
    assert_eq!(list.body["items"][0]["id"], id.as_str());
    let meta = t.get(&format!("/api/v1/workspaces/{ws}/photos/{id}"), &owner).await;
    assert_eq!(meta.body["sha256"], up.body["sha256"]);

    let content = format!("/api/v1/workspaces/{ws}/photos/{id}/content?variant=original");
    let whole = t.get(&content, &owner).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.bytes, bytes);
    let etag = format!("\"{}\"", hex::encode(Sha256::digest(&bytes)));
    assert_eq!(whole.header("etag"), Some(etag.as_str()));
    assert_eq!(whole.header("cache-control"), Some("private"));
    assert_eq!(whole.header("content-type"), Some("image/jpeg"));
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert_eq!(whole.header("content-length"), Some(bytes.len().to_string().as_str()));

    let get = |range: &str| {
        TestRequest::get()
            .uri(&content)
            .insert_header(("cookie", owner.cookie.clone()))
            .insert_header(("range", range.to_owned()))
    };
    let part = t.send(get("bytes=65530-65545")).await;
    assert_eq!(part.status, 206);
    assert_eq!(part.bytes, bytes[65530..65546]);
    assert_eq!(part.header("content-range"), Some(format!("bytes 65530-65545/{}", bytes.len()).as_str()));
    let tail = t.send(get("bytes=-10")).await;
    assert_eq!((tail.status, tail.bytes.as_slice()), (206, &bytes[bytes.len() - 10..]));
    let past = t.send(get(&format!("bytes={}-", bytes.len()))).await;
    problem(&past, 416, "range_not_satisfiable");
    assert_eq!(past.header("content-range"), Some(format!("bytes */{}", bytes.len()).as_str()));
    let cached = t
        .send(
            TestRequest::get()
                .uri(&content)
                .insert_header(("cookie", owner.cookie.clone()))
                .insert_header(("if-none-match", etag.clone())),
        )
        .await;
    assert_eq!((cached.status, cached.bytes.len()), (304, 0));
    assert_eq!(cached.header("etag"), Some(etag.as_str()));
    let plain = format!("/api/v1/workspaces/{ws}/photos/{id}/content");
    problem(&t.get(&format!("{plain}?variant=huge"), &owner).await, 400, "invalid_query");
    assert_eq!(meta.body["status"], "processing");
    let early = t.get(&format!("{plain}?variant=thumb"), &owner).await;
    problem(&early, 409, "variant_not_ready");
    assert_eq!(early.header("retry-after"), Some("2"));

    // Trash, restore, trash, purge.
    assert_eq!(t.delete(&format!("/api/v1/workspaces/{ws}/photos/{id}"), &owner).await.status, 204);
    problem(&t.get(&content, &owner).await, 404, "not_found");
    let back = t.post(&format!("/api/v1/workspaces/{ws}/photos/{id}/restore"), &owner, serde_json::json!({})).await;
    assert_eq!((back.status, &back.body["deleted_at"]), (200, &serde_json::Value::Null), "{}", back.text);
    assert_eq!(t.get(&content, &owner).await.bytes, bytes);
    assert_eq!(t.delete(&format!("/api/v1/workspaces/{ws}/photos/{id}"), &owner).await.status, 204);
    let purge = t.post(&format!("/api/v1/workspaces/{ws}/photos/{id}/purge"), &owner, serde_json::json!({})).await;
    assert_eq!(purge.status, 204, "{}", purge.text);
    problem(
        &t.post(&format!("/api/v1/workspaces/{ws}/photos/{id}/restore"), &owner, serde_json::json!({})).await,
        404,
        "not_found",
    );
    let audit = t.get(&format!("/api/v1/workspaces/{ws}/audit"), &owner).await;
    let actions: Vec<&str> =
        audit.body["items"].as_array().expect("items").iter().filter_map(|e| e["action"].as_str()).collect();
    for a in ["photo.uploaded", "photo.trashed", "photo.restored", "photo.purged"] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
}

#[actix_web::test]
async fn bad_uploads_are_refused_and_store_nothing() {
    let t = test_app().await;
    let owner = t.user("owner").await;
    let ws = t.workspace(&owner, "Uploads").await;
    let job = t.job(&ws, &owner, "Kitchen").await;
    let stranger = t.user("stranger").await;
    let theirs = t.workspace(&stranger, "Theirs").await;
    let before = t.snapshot(&ws).await;
    let url = format!("/api/v1/workspaces/{ws}/jobs/{job}/photos");

    problem(
        &t.call_raw(Method::POST, &url, &owner, b"GIF89a\x01\x00\x01\x00;".to_vec()).await,
        415,
        "unsupported_image",
    );
    problem(&t.call_raw(Method::POST, &url, &owner, b"%PDF-1.7 pretending".to_vec()).await, 415, "unsupported_image");
    problem(&t.call_raw(Method::POST, &url, &owner, Vec::new()).await, 400, "empty_body");
    // Over the limit (1 MiB here): refused from Content-Length, and while streaming.
    let big = jpeg(1 << 20);
    let r = t.call_raw(Method::POST, &url, &owner, big.clone()).await;
    problem(&r, 413, "payload_too_large");
    let chunked =
        TestRequest::post().uri(&url).insert_header(("cookie", owner.cookie.clone())).set_payload(big).to_request();
    let mut chunked = chunked;
    chunked.headers_mut().remove("content-length");
    let res = actix_web::test::call_service(&t.service, chunked).await;
    assert_eq!(res.status().as_u16(), 413);
    let long = format!("{url}?file_name={}", "n".repeat(300));
    problem(&t.call_raw(Method::POST, &long, &owner, jpeg(10)).await, 422, "validation_failed");
    problem(&t.call_raw(Method::POST, &format!("{url}?colour=red"), &owner, jpeg(10)).await, 400, "invalid_query");
    problem(
        &t.call_raw(Method::POST, &format!("/api/v1/workspaces/{ws}/jobs/nope/photos"), &owner, jpeg(10)).await,
        400,
        "invalid_id",
    );
    assert_eq!(t.snapshot(&ws).await, before, "nothing was stored");
    assert!(t.blobs.is_empty(), "no blob either");
    let list = t.get(&format!("/api/v1/workspaces/{ws}/jobs/{job}/photos"), &owner).await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(0));

    // Another workspace's job, with this workspace's id or its own: not found.
    problem(&t.call_raw(Method::POST, &url, &stranger, jpeg(10)).await, 404, "not_found");
    let mixed = format!("/api/v1/workspaces/{theirs}/jobs/{job}/photos");
    problem(&t.call_raw(Method::POST, &mixed, &stranger, jpeg(10)).await, 404, "not_found");
    assert_eq!(t.snapshot(&ws).await, before);
}

fn form(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, bytes) in parts {
        body.extend_from_slice(b"--XyZ\r\n");
        let disposition = match file {
            Some(f) => format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: image/jpeg\r\n\r\n"
            ),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--XyZ--\r\n");
    body
}

#[actix_web::test]
async fn a_browser_form_uploads_a_photo_too() {
    let t = test_app().await;
    let owner = t.user("owner").await;
    let ws = t.workspace(&owner, "Forms").await;
    let job = t.job(&ws, &owner, "Porch").await;
    let url = format!("/api/v1/workspaces/{ws}/jobs/{job}/photos");
    let send = |body: Vec<u8>| {
        TestRequest::post()
            .uri(&url)
            .insert_header(("cookie", owner.cookie.clone()))
            .insert_header(("content-type", "multipart/form-data; boundary=XyZ"))
            .set_payload(body)
    };
    let bytes = jpeg(90_000);
    let r = t.send(send(form(&[("note", None, b"front porch"), ("file", Some("porch.jpg"), &bytes)]))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["file_name"], "porch.jpg");
    assert_eq!(r.body["size"], bytes.len());
    let got = t.get(&format!("/api/v1/workspaces/{ws}/photos/{}/content?variant=original", r.str("id")), &owner).await;
    assert_eq!(got.bytes, bytes);

    let before = t.snapshot(&ws).await;
    problem(&t.send(send(form(&[("note", None, b"no file here")]))).await, 400, "empty_body");
    problem(&t.send(send(b"this is not a form".to_vec())).await, 400, "invalid_body");
    problem(&t.send(send(form(&[("file", Some("x.gif"), b"GIF89a....")]))).await, 415, "unsupported_image");
    let big_field = vec![b'a'; 70 * 1024];
    problem(
        &t.send(send(form(&[("note", None, &big_field), ("file", Some("p.jpg"), &bytes)]))).await,
        400,
        "invalid_body",
    );
    assert_eq!(t.snapshot(&ws).await, before, "nothing stored");
}

#[actix_web::test]
async fn only_owners_and_admins_get_the_original_others_the_stripped_variants() {
    let t = test_app().await;
    let owner = t.user("owner").await;
    let member = t.user("member").await;
    let ws = t.workspace(&owner, "Privacy").await;
    t.join(&ws, &owner, &member, "member").await;
    let job = t.job(&ws, &owner, "Fence").await;
    let id = t.photo(&ws, &member, &job).await;
    t.process(&ws, &id).await;
    let content = format!("/api/v1/workspaces/{ws}/photos/{id}/content");
    let large = t.get(&content, &member).await;
    assert_eq!((large.status, large.bytes.as_slice()), (200, &jpeg(500)[..64]), "the default is the large variant");
    assert_eq!(large.header("content-type"), Some("image/jpeg"));
    assert!(large.header("etag").is_some_and(|e| e.ends_with("-large\"")));
    let thumb = t.get(&format!("{content}?variant=thumb"), &member).await;
    assert_eq!(thumb.bytes, &jpeg(500)[..16]);
    // The original may hold the location: not even its uploader gets it as a Member.
    problem(&t.get(&format!("{content}?variant=original"), &member).await, 403, "role_insufficient");
    assert_eq!(t.get(&format!("{content}?variant=original"), &owner).await.bytes, jpeg(500));
    let meta = t.get(&format!("/api/v1/workspaces/{ws}/photos/{id}"), &member).await;
    assert_eq!((meta.body["status"].as_str(), meta.body["width"].as_u64()), (Some("ready"), Some(40)));
    let text = meta.text.to_lowercase();
    assert!(!text.contains("location") && !text.contains("gps") && !text.contains("lat"), "{text}");
}

#[actix_web::test]
async fn a_photo_location_is_shown_only_to_owners_and_admins_of_a_workspace_that_allows_it() {
    let t = test_app().await;
    let (owner, admin, member) = (t.user("owner").await, t.user("admin").await, t.user("member").await);
    let ws = t.workspace(&owner, "Places").await;
    t.join(&ws, &owner, &admin, "admin").await;
    t.join(&ws, &owner, &member, "member").await;
    let job = t.job(&ws, &owner, "Roof").await;
    let photo = t.photo(&ws, &owner, &job).await;
    let url = format!("/api/v1/workspaces/{ws}/photos/{photo}/location");
    // Not processed yet: nothing known of a location.
    let settings = |on: bool| Some(serde_json::json!({"settings": {"show_photo_location": on}}));
    let before = t.snapshot(&ws).await;
    problem(&t.get(&url, &owner).await, 403, "location_hidden");
    assert_eq!(t.snapshot(&ws).await, before, "a refused read records nothing");
    let r = t.call(Method::PATCH, &format!("/api/v1/workspaces/{ws}"), Some(&admin), settings(true)).await;
    assert_eq!(
        (r.status, r.body["settings"]["show_photo_location"].clone()),
        (200, serde_json::json!(true)),
        "{}",
        r.text
    );
    assert_eq!(t.get(&url, &owner).await.body["location"], serde_json::Value::Null, "processing: none known yet");
    t.process(&ws, &photo).await;
    for who in [&owner, &admin] {
        let r = t.get(&url, who).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["location"]["latitude"], 48.8584);
        assert_eq!(r.body["location"]["longitude"], 2.2945);
        assert_eq!(r.body["location"]["altitude"], 35.0);
    }
    problem(&t.get(&url, &member).await, 403, "role_insufficient");
    let photo_json = t.get(&format!("/api/v1/workspaces/{ws}/photos/{photo}"), &owner).await.text;
    assert!(!photo_json.contains("48.8584") && !photo_json.contains("location\""), "never in the record: {photo_json}");
    let audit = t.get(&format!("/api/v1/workspaces/{ws}/audit"), &owner).await;
    let viewed =
        audit.body["items"].as_array().map(|a| a.iter().filter(|e| e["action"] == "photo.location_viewed").count());
    assert_eq!(viewed, Some(2), "each read audited");
    // A member cannot change the setting; off again hides it.
    problem(
        &t.call(Method::PATCH, &format!("/api/v1/workspaces/{ws}"), Some(&member), settings(false)).await,
        403,
        "role_insufficient",
    );
    assert_eq!(
        t.call(Method::PATCH, &format!("/api/v1/workspaces/{ws}"), Some(&owner), settings(false)).await.status,
        200
    );
    problem(&t.get(&url, &admin).await, 403, "location_hidden");
}

#[actix_web::test]
async fn uploads_beyond_the_node_limit_are_turned_away_until_a_slot_frees() {
    use workvault_http::{HttpSettings, UploadSlots};
    let slots = UploadSlots::new(1);
    let settings =
        HttpSettings::for_url(url::Url::parse("http://127.0.0.1:8080").expect("url")).with_upload_slots(slots.clone());
    let t = crate::harness::test_app_with(settings).await;
    let owner = t.user("owner").await;
    let ws = t.workspace(&owner, "Busy").await;
    let job = t.job(&ws, &owner, "Roof").await;
    let url = format!("/api/v1/workspaces/{ws}/jobs/{job}/photos");
    let held = slots.take().expect("the one slot");
    assert!(slots.take().is_none());
    let before = t.snapshot(&ws).await;
    let r = t.call_raw(Method::POST, &url, &owner, jpeg(100)).await;
    problem(&r, 503, "uploads_busy");
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(t.snapshot(&ws).await, before, "nothing stored");
    drop(held);
    assert_eq!(t.call_raw(Method::POST, &url, &owner, jpeg(100)).await.status, 201);
    assert!(slots.take().is_some(), "the upload gave its slot back");
}

#[actix_web::test]
async fn a_member_removed_mid_upload_is_answered_not_found_and_nothing_is_stored() {
    use futures_util::StreamExt;
    use workvault_domain::Ctx;
    let t = test_app().await;
    let (owner, member) = (t.user("owner").await, t.user("member").await);
    let ws = t.workspace(&owner, "Standing").await;
    t.join(&ws, &owner, &member, "member").await;
    let job = t.job(&ws, &owner, "Roof").await;
    let (blobs, url) = (t.blobs.len(), format!("/api/v1/workspaces/{ws}/jobs/{job}/photos"));

    // The second half of the body arrives only once the member has been removed: the
    // request was let in, its bytes were sealed, and then the row must not be written.
    let (app, by) = (t.app.clone(), Ctx { user: owner.id.parse().expect("id"), request_id: None });
    let (ws_id, gone) = (ws.parse().expect("ws id"), member.id.parse().expect("user id"));
    let bytes = jpeg(4000);
    let (head, tail) = bytes.split_at(2000);
    let (head, tail) = (bytes::Bytes::copy_from_slice(head), bytes::Bytes::copy_from_slice(tail));
    let body = futures_util::stream::iter([Ok::<_, actix_http::error::PayloadError>(head)]).chain(
        futures_util::stream::once(async move {
            app.remove_member(&by, ws_id, gone).await.expect("remove");
            Ok(tail)
        }),
    );
    let req = TestRequest::post()
        .uri(&url)
        .insert_header(("cookie", member.cookie.clone()))
        .insert_header(("content-type", "application/octet-stream"))
        .to_request();
    let payload: actix_http::BoxedPayloadStream = Box::pin(body);
    let (req, _) = req.replace_payload(actix_http::Payload::Stream { payload });
    let res = actix_web::test::call_service(&t.service, req).await;
    let status = res.status().as_u16();
    let text =
        String::from_utf8_lossy(&actix_web::body::to_bytes(res.into_body()).await.unwrap_or_default()).into_owned();
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("\"code\":\"not_found\""), "{text}");

    assert_eq!(t.blobs.len(), blobs, "the sealed bytes were deleted");
    let r = t.get(&url, &owner).await;
    assert_eq!(r.body["items"], serde_json::json!([]), "no photo row");
    let audit = t.get(&format!("/api/v1/workspaces/{ws}/audit"), &owner).await;
    let actions: Vec<&str> =
        audit.body["items"].as_array().expect("items").iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"member.removed") && !actions.contains(&"photo.uploaded"), "{actions:?}");
}
