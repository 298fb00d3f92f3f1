//! Dump, restore and copies of a whole instance.

use std::sync::Arc;

use chrono::Duration;
use workvault_domain::id::{JobId, WorkspaceId};
use workvault_domain::model::{Identity, SignInLink};
use workvault_domain::page::PageRequest;
use workvault_domain::policy::Role;
use workvault_domain::ports::Store;
use workvault_domain::secret::Token;
use workvault_domain::service::{InviteRequest, ItemInput, NewReport, NewShareLink, ShareRequest};
use workvault_domain::share::{ShareView, Viewed};
use workvault_domain::text::Email;

use super::*;
use crate::Fixture;

/// Everything a store can hold, a little of each: for dump/restore and copies.
pub async fn populate(f: &Fixture) -> (WorkspaceId, Token) {
    let (alice, bob, carol) = (f.user("alice").await, f.user("bob").await, f.user("carol").await);
    let ws = f.workspace(&alice, "Everything").await;
    f.workspace(&bob, "Bob's").await;
    f.join(&alice, ws, &bob, Role::Restricted).await;
    f.join(&alice, ws, &carol, Role::Member).await;
    let jobs: Vec<_> = futures_lite_all(f, &alice, ws).await;
    f.app.grant_job(&alice, ws, jobs[0], bob.user).await.expect("grant");
    f.app.delete_job(&alice, ws, jobs[1]).await.expect("trash");
    // Photos, one of them in trash; reports of them, one in trash.
    let mut photos = Vec::new();
    for n in [10, 20, 30] {
        let bytes = Box::pin(futures_util::stream::iter([Ok(bytes::Bytes::from(jpeg(n)))]));
        photos.push(f.app.upload_photo(&carol, ws, jobs[0], Some("p.jpg"), bytes).await.expect("photo").id);
    }
    let items = |ids: &[workvault_domain::id::PhotoId]| {
        ids.iter().map(|&photo_id| ItemInput { photo_id, caption: Some(format!("at {photo_id}")) }).collect()
    };
    let report = NewReport { title: "Survey".into(), notes: Some("Two\nlines".into()), items: items(&photos[..2]) };
    let survey = f.app.create_report(&carol, ws, jobs[0], report).await.expect("report");
    let link = NewShareLink {
        target: ShareRequest::Report { job: jobs[0], report: survey.id },
        expires_at: None,
        password: Some("correct horse".into()),
        allow_download: true,
    };
    let (link, _) = f.app.create_share_link(&carol, ws, link).await.expect("share link");
    // Three views, two at the same instant: dump pages of two cross them and their ties.
    f.app.record_share_view(&link, Viewed::Page, "192.0.2.0/24", "Firefox").await.expect("view recorded");
    let page = f.app.share_view(&link, Viewed::Page, "198.51.100.0/24", "Safari");
    let (download, audit) = f.app.share_view(&link, Viewed::Download, "198.51.100.0/24", "Safari");
    let tie = (ShareView { at: page.0.at, ..download }, audit);
    f.app.record_share_views(vec![page, tie]).await.expect("views recorded");
    let empty = NewReport { title: "Empty".into(), ..Default::default() };
    let trashed = f.app.create_report(&carol, ws, jobs[0], empty).await.expect("report");
    f.app.trash_report(&carol, ws, jobs[0], trashed.id).await.expect("trash report");
    let reordered = NewReport { title: "Reversed".into(), notes: None, items: items(&[photos[2], photos[0]]) };
    f.app.create_report(&carol, ws, jobs[0], reordered).await.expect("report");
    f.app.trash_photo(&carol, ws, photos[1]).await.expect("trash photo");
    f.app
        .create_invite(&alice, ws, InviteRequest { email: Some("dan@example.test".into()), ..Default::default() })
        .await
        .expect("invite");
    let (revoked, _) = f.app.create_invite(&alice, ws, InviteRequest::default()).await.expect("invite");
    f.app.revoke_invite(&alice, ws, revoked.id).await.expect("revoke");
    f.app.issue_sign_in_link("later@example.test").await.expect("link");
    let identity = Identity {
        issuer: "local".into(),
        subject: "carol@example.test".into(),
        email: Email::parse("carol@example.test").expect("email"),
    };
    let gone = f.app.open_session(&identity, None).await.expect("session");
    let session = f.app.authenticate(&gone.token).await.expect("auth").expect("live");
    f.app.sign_out(&session, None).await.expect("sign out");
    let live = f.app.open_session(&identity, None).await.expect("session");
    f.store.enqueue(&new_task(f, "test.copy", 5)).await.expect("enqueue");
    (ws, live.token)
}

async fn futures_lite_all(f: &Fixture, by: &workvault_domain::Ctx, ws: WorkspaceId) -> Vec<JobId> {
    let mut ids = Vec::new();
    for i in 0..5 {
        f.clock.advance(Duration::seconds(1));
        ids.push(f.app.create_job(by, ws, job(&format!("job {i}"))).await.expect("job").id);
    }
    ids
}

/// Every record of every kind, as dumped in one page per kind.
pub async fn dump_all(store: &dyn Store) -> Vec<workvault_domain::instance::Record> {
    let mut all = Vec::new();
    for kind in workvault_domain::instance::RecordKind::ALL {
        let (records, next) = store.dump(kind, None, 1_000_000).await.expect("dump");
        assert!(next.is_none());
        all.extend(records);
    }
    all
}

/// A copy through the ports alone reproduces every record (ids, times, hashes), keeps
/// every audit chain verifiable, keeps sessions working, and refuses a non-empty target.
pub async fn a_copy_reproduces_the_instance(from: Arc<dyn Store>, to: Arc<dyn Store>) {
    use workvault_domain::instance::{CopyError, copy_instance};
    let f = Fixture::new(from.clone());
    let (ws, token) = populate(&f).await;
    assert!(!from.is_empty().await.expect("read") && to.is_empty().await.expect("read"));
    let mut pages = 0;
    let report = copy_instance(&*from, &*to, 3, |_, _| pages += 1).await.expect("copy");
    assert!(pages > workvault_domain::instance::RecordKind::ALL.len(), "small batches page through every kind");
    assert_eq!(report.chains.len(), 2);
    assert!(report.chains.iter().all(|(_, c)| c.is_intact() && c.events > 0));
    assert_eq!(dump_all(&*to).await, dump_all(&*from).await, "every record arrives exactly as it was");

    // The copy is a working instance: sessions, roles and chains carry over.
    let g = Fixture::new(to.clone());
    g.clock.set(f.clock_now());
    let session = g.app.authenticate(&token).await.expect("auth").expect("the session survives the copy");
    let ctx = workvault_domain::Ctx { user: session.user_id, request_id: None };
    assert_eq!(g.app.jobs(&ctx, ws, PageRequest::first()).await.expect("jobs").items.len(), 4);
    g.app.create_job(&ctx, ws, job("after the move")).await.expect("writes continue the chain");
    assert!(g.app.verify_audit_chain(ws).await.expect("verify").is_intact());

    let again = copy_instance(&*from, &*to, 100, |_, _| {}).await;
    assert!(matches!(again, Err(CopyError::TargetNotEmpty)), "{again:?}");
}

/// Dump pages are complete and stable whatever their size; restore is all or nothing.
pub async fn dumps_page_completely_and_restores_are_atomic(store: Arc<dyn Store>) {
    use workvault_domain::instance::RecordKind;
    let f = Fixture::new(store.clone());
    populate(&f).await;
    for kind in RecordKind::ALL {
        let (whole, _) = store.dump(kind, None, 1_000_000).await.expect("dump");
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let (page, next) = store.dump(kind, after, 2).await.expect("dump");
            assert!(page.len() <= 2);
            paged.extend(page);
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(paged, whole, "{}", kind.name());
    }
    // Restoring records that exist fails as a whole and writes nothing.
    let before = dump_all(&*store).await;
    let (users, _) = store.dump(RecordKind::User, None, 1).await.expect("dump");
    let mut batch = vec![workvault_domain::instance::Record::SignInLink(SignInLink {
        token_hash: unknown_token().hash(),
        email: Email::parse("new@example.test").expect("email"),
        created_at: f.clock_now(),
        expires_at: f.clock_now(),
        used_at: None,
    })];
    batch.extend(users);
    assert!(store.restore(&batch).await.is_err());
    assert_eq!(dump_all(&*store).await, before, "a failed restore leaves no row");
}
