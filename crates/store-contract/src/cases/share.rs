//! Share links: made only for live content of a job the maker may share, shown while
//! live, unrevoked and unexpired, gone with their content; views recorded and pruned;
//! password attempts limited through the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Duration;
use workvault_domain::Error;
use workvault_domain::id::{JobId, PhotoId};
use workvault_domain::page::PageRequest;
use workvault_domain::policy::Role;
use workvault_domain::ports::{Offload, Store};
use workvault_domain::service::{NewReport, NewShareLink, ShareRefusal, ShareRequest};
use workvault_domain::share::{LinkState, ShareTarget, Viewed};

use super::job;
use super::photos::{jpeg, upload};
use crate::Fixture;

fn link(target: ShareRequest) -> NewShareLink {
    NewShareLink { target, expires_at: None, password: None, allow_download: false }
}

/// Who may share follows the job; links show live content only, and only while live.
pub async fn share_links_follow_their_job_and_show_only_live_content(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (owner, member, restricted, outsider) =
        (f.user("owner").await, f.user("member").await, f.user("restricted").await, f.user("outsider").await);
    let ws = f.workspace(&owner, "Sharing").await;
    let other_ws = f.workspace(&outsider, "Elsewhere").await;
    f.join(&owner, ws, &member, Role::Member).await;
    f.join(&owner, ws, &restricted, Role::Restricted).await;
    let (j, k): (JobId, JobId) = (
        f.app.create_job(&owner, ws, job("Roof")).await.expect("job").id,
        f.app.create_job(&owner, ws, job("Deck")).await.expect("job").id,
    );
    let p: PhotoId = upload(&f.app, &owner, ws, j, &jpeg(50)).await.expect("photo");
    let report = NewReport { title: "Survey".into(), ..Default::default() };
    let r = f.app.create_report(&owner, ws, j, report).await.expect("report").id;

    // Made by a member for each kind of target; the token opens it.
    let (by_report, token) = f
        .app
        .create_share_link(&member, ws, link(ShareRequest::Report { job: j, report: r }))
        .await
        .expect("report link");
    assert_eq!(by_report.target, ShareTarget::Report(r));
    assert_eq!(by_report.expires_at, f.clock_now() + Duration::days(30), "the default lifetime");
    let opened = f.app.open_share(token.expose()).await.expect("opens");
    assert_eq!(opened.id, by_report.id);
    assert_eq!(f.app.shared_page(opened).await.expect("shows").view.report().id, r);
    let (_, photo_token) =
        f.app.create_share_link(&member, ws, link(ShareRequest::Photo(p))).await.expect("photo link");
    let (_, job_token) = f.app.create_share_link(&member, ws, link(ShareRequest::Job(j))).await.expect("job link");
    let gallery = f.app.shared_page(f.app.open_share(job_token.expose()).await.expect("opens")).await.expect("shows");
    assert_eq!(gallery.view.entries().len(), 1);
    assert_eq!(gallery.view.report().title.to_string(), "Roof", "a gallery is titled by its job");

    // Not for what the maker may not share, not across jobs or workspaces.
    let refused = f.app.create_share_link(&restricted, ws, link(ShareRequest::Job(j))).await;
    assert!(matches!(refused, Err(Error::NotFound)), "ungranted restricted member: {refused:?}");
    let refused = f.app.create_share_link(&outsider, ws, link(ShareRequest::Job(j))).await;
    assert!(matches!(refused, Err(Error::NotFound)));
    let refused = f.app.create_share_link(&owner, ws, link(ShareRequest::Report { job: k, report: r })).await;
    assert!(matches!(refused, Err(Error::NotFound)), "a report of another job");
    let refused = f.app.create_share_link(&owner, other_ws, link(ShareRequest::Job(j))).await;
    assert!(matches!(refused, Err(Error::NotFound)));
    let past = NewShareLink { expires_at: Some(f.clock_now() - Duration::seconds(1)), ..link(ShareRequest::Job(j)) };
    assert!(matches!(f.app.create_share_link(&owner, ws, past).await, Err(Error::Invalid { field: "expires_at", .. })));
    let far = NewShareLink { expires_at: Some(f.clock_now() + Duration::days(366)), ..link(ShareRequest::Job(j)) };
    assert!(matches!(f.app.create_share_link(&owner, ws, far).await, Err(Error::Invalid { field: "expires_at", .. })));
    let short = NewShareLink { password: Some("short".into()), ..link(ShareRequest::Job(j)) };
    assert!(matches!(f.app.create_share_link(&owner, ws, short).await, Err(Error::Invalid { field: "password", .. })));
    f.app.grant_job(&owner, ws, j, restricted.user).await.expect("grant");
    f.app.create_share_link(&restricted, ws, link(ShareRequest::Job(j))).await.expect("granted restricted member");

    // Lists: everything for members; granted jobs only for a restricted member.
    f.app.create_share_link(&owner, ws, link(ShareRequest::Job(k))).await.expect("deck link");
    assert_eq!(f.app.share_links(&member, ws, PageRequest::default()).await.expect("list").items.len(), 5);
    let theirs = f.app.share_links(&restricted, ws, PageRequest::default()).await.expect("list");
    assert!(theirs.items.iter().all(|(l, _)| l.job_id == j) && theirs.items.len() == 4);

    // Views are recorded with the link, listed newest first, pruned by age.
    f.app.record_share_view(&by_report, Viewed::Page, "192.0.2.0/24", "Firefox").await.expect("view recorded");
    f.clock.advance(Duration::seconds(1));
    f.app.record_share_view(&by_report, Viewed::Download, "2001:db8:1::/48", "Chrome").await.expect("view recorded");
    let views = f.app.share_views(&owner, ws, by_report.id, PageRequest::default()).await.expect("views");
    let seen: Vec<(Viewed, &str, &str)> =
        views.items.iter().map(|v| (v.viewed, v.network.as_str(), v.browser.as_str())).collect();
    assert_eq!(seen, [(Viewed::Download, "2001:db8:1::/48", "Chrome"), (Viewed::Page, "192.0.2.0/24", "Firefox")]);
    assert!(matches!(
        f.app.share_views(&outsider, ws, by_report.id, PageRequest::default()).await,
        Err(Error::NotFound)
    ));
    assert_eq!(
        f.store.prune_views(f.clock_now() + Duration::days(1), 1).await.expect("prune"),
        1,
        "only the older view"
    );

    // Trashed content is gone; revoked links are invalid, expired ones expired.
    f.app.trash_photo(&owner, ws, p).await.expect("trash");
    let photo_link = f.app.open_share(photo_token.expose()).await.expect("still a link");
    assert!(matches!(f.app.shared_page(photo_link).await, Err(ShareRefusal::Gone)));
    assert!(
        f.app.shared_page(f.app.open_share(job_token.expose()).await.expect("open")).await.is_ok(),
        "empty gallery"
    );
    f.app.revoke_share_link(&member, ws, by_report.id).await.expect("revoke");
    assert!(matches!(f.app.open_share(token.expose()).await, Err(ShareRefusal::Invalid)), "same as unknown");
    assert!(matches!(f.app.revoke_share_link(&member, ws, by_report.id).await, Err(Error::NotFound)));
    assert!(matches!(f.app.open_share("not-a-token").await, Err(ShareRefusal::Invalid)));
    f.clock.advance(Duration::days(30));
    assert!(matches!(f.app.open_share(job_token.expose()).await, Err(ShareRefusal::Expired)));

    let chain = f.store.audit_chain(ws, 0, 1000).await.expect("chain");
    let count = |a: &str| chain.iter().filter(|e| e.action == a).count();
    assert_eq!((count("share_link.created"), count("share_link.revoked"), count("share_link.viewed")), (5, 1, 2));
}

/// A link carries its maker's authority: it opens only while the maker may still share
/// its job. Revoking a Restricted maker's grant, demoting a maker below sharing, or
/// removing them suspends their links (refused as a link that never existed, listed as
/// `suspended`) on the next request, gallery and all; the links of others are untouched.
pub async fn links_end_with_their_makers_authority(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (owner, member, restricted) = (f.user("owner").await, f.user("member").await, f.user("restricted").await);
    let ws = f.workspace(&owner, "Authority").await;
    f.join(&owner, ws, &member, Role::Member).await;
    f.join(&owner, ws, &restricted, Role::Restricted).await;
    let j = f.app.create_job(&owner, ws, job("Roof")).await.expect("job").id;
    f.app.grant_job(&owner, ws, j, restricted.user).await.expect("grant");
    let (by_restricted, r_token) =
        f.app.create_share_link(&restricted, ws, link(ShareRequest::Job(j))).await.expect("restricted's link");
    let (by_member, m_token) = f.app.create_share_link(&member, ws, link(ShareRequest::Job(j))).await.expect("link");
    let (_, o_token) = f.app.create_share_link(&owner, ws, link(ShareRequest::Job(j))).await.expect("owner's link");
    let state_of = |id| {
        let (app, owner) = (f.app.clone(), owner);
        async move {
            let links = app.share_links(&owner, ws, PageRequest::default()).await.expect("list");
            links.items.into_iter().find(|(l, _)| l.id == id).map(|(_, s)| s).expect("listed")
        }
    };
    let opens = |token: String| {
        let app = f.app.clone();
        async move { app.open_share(&token).await }
    };
    assert_eq!(state_of(by_restricted.id).await, LinkState::Active);
    assert!(opens(r_token.expose().to_owned()).await.is_ok());

    // The grant goes: the restricted member's link stops at once, the others do not.
    f.app.revoke_grant(&owner, ws, j, restricted.user).await.expect("revoke grant");
    assert!(matches!(opens(r_token.expose().to_owned()).await, Err(ShareRefusal::Invalid)), "same as unknown");
    assert_eq!(state_of(by_restricted.id).await, LinkState::Suspended);
    assert!(opens(m_token.expose().to_owned()).await.is_ok() && opens(o_token.expose().to_owned()).await.is_ok());
    f.app.grant_job(&owner, ws, j, restricted.user).await.expect("granted again");
    assert!(opens(r_token.expose().to_owned()).await.is_ok(), "authority back, link back");

    // Demoted below sharing the job (Restricted, ungranted): suspended.
    f.app.change_role(&owner, ws, member.user, Role::Restricted).await.expect("demote");
    assert!(matches!(opens(m_token.expose().to_owned()).await, Err(ShareRefusal::Invalid)));
    assert_eq!(state_of(by_member.id).await, LinkState::Suspended);

    // Removed: suspended, and a gallery shows nothing uploaded afterwards.
    f.app.remove_member(&owner, ws, restricted.user).await.expect("remove");
    upload(&f.app, &owner, ws, j, &jpeg(60)).await.expect("a photo after the removal");
    assert!(matches!(opens(r_token.expose().to_owned()).await, Err(ShareRefusal::Invalid)));
    assert_eq!(state_of(by_restricted.id).await, LinkState::Suspended);
    assert!(opens(o_token.expose().to_owned()).await.is_ok(), "the owner's link still opens");

    // Expiry and revocation still read as they are.
    f.app.revoke_share_link(&owner, ws, by_member.id).await.expect("revoke");
    assert_eq!(state_of(by_member.id).await, LinkState::Revoked);
    f.clock.advance(Duration::days(31));
    assert!(matches!(opens(o_token.expose().to_owned()).await, Err(ShareRefusal::Expired)));
    assert_eq!(state_of(by_restricted.id).await, LinkState::Expired);
}

/// Wrong passwords are counted in the store per link and network: the sixth attempt
/// from one network is refused even with the right password, others still try, and a
/// new window starts over. The unlock proof opens only its own link.
pub async fn password_attempts_are_limited_through_the_store(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let owner = f.user("owner").await;
    let ws = f.workspace(&owner, "Passwords").await;
    let j = f.app.create_job(&owner, ws, job("Roof")).await.expect("job").id;
    let with = |pw: &str| NewShareLink { password: Some(pw.into()), ..link(ShareRequest::Job(j)) };
    let (locked, token) = f.app.create_share_link(&owner, ws, with("correct horse battery")).await.expect("link");
    let (other, _) = f.app.create_share_link(&owner, ws, with("another password")).await.expect("link");
    assert!(locked.password_hash.as_deref().is_some_and(|h| h.starts_with("$argon2id$")), "argon2id");
    let link = f.app.open_share(token.expose()).await.expect("open");
    assert!(!f.app.unlocked(&link, None));
    for _ in 0..5 {
        let wrong = f.app.unlock_share(&link, "wrong guess", "192.0.2.0/24").await;
        assert!(matches!(wrong, Err(ShareRefusal::PasswordNeeded { wrong: true })), "{wrong:?}");
    }
    let limited = f.app.unlock_share(&link, "correct horse battery", "192.0.2.0/24").await;
    assert!(matches!(limited, Err(ShareRefusal::TooManyAttempts { retry_after }) if retry_after > 0), "{limited:?}");
    let proof = f.app.unlock_share(&link, "correct horse battery", "198.51.100.0/24").await.expect("another network");
    assert!(f.app.unlocked(&link, Some(&proof)));
    assert!(!f.app.unlocked(&other, Some(&proof)), "a proof opens its own link only");
    assert!(!f.app.unlocked(&link, Some("0000")));
    f.clock.advance(Duration::minutes(15));
    f.app.unlock_share(&link, "correct horse battery", "192.0.2.0/24").await.expect("a new window");
    // The right password is no guess: however often it is given, it never counts.
    for _ in 0..60 {
        f.app.unlock_share(&link, "correct horse battery", "192.0.2.0/24").await.expect("never limited");
    }
    for _ in 0..5 {
        let wrong = f.app.unlock_share(&link, "wrong guess", "192.0.2.0/24").await;
        assert!(matches!(wrong, Err(ShareRefusal::PasswordNeeded { wrong: true })), "five guesses left: {wrong:?}");
    }

    // argon2id runs through the offload port (off the request threads in the server);
    // work the port drops unrun is a refusal, never a pass.
    let counted = Arc::new(Counted::default());
    let app = f.app.clone().with_offload(counted.clone());
    app.create_share_link(&owner, ws, with("a third password")).await.expect("hashed through the port");
    app.unlock_share(&link, "correct horse battery", "203.0.113.0/24").await.expect("checked through the port");
    assert_eq!(counted.0.load(Ordering::SeqCst), 2);
    let dropping = f.app.clone().with_offload(Arc::new(Dropping));
    let refused = dropping.unlock_share(&link, "correct horse battery", "203.0.113.0/24").await;
    assert!(matches!(refused, Err(ShareRefusal::Unavailable)), "{refused:?}");
    let refused = dropping.create_share_link(&owner, ws, with("a fourth password")).await;
    assert!(matches!(refused, Err(Error::Unavailable(_))), "{refused:?}");
    let outsider = f.user("outsider").await;
    let refused = app.create_share_link(&outsider, ws, with("not worth hashing")).await;
    assert!(matches!(refused, Err(Error::NotFound)), "{refused:?}");
    assert_eq!(counted.0.load(Ordering::SeqCst), 2, "no hashing for a maker who may not share");
}

/// Runs offloaded work on the spot, counting it.
#[derive(Debug, Default)]
struct Counted(AtomicUsize);

#[async_trait::async_trait]
impl Offload for Counted {
    async fn run(&self, work: Box<dyn FnOnce() + Send>) {
        self.0.fetch_add(1, Ordering::SeqCst);
        work();
    }
}

/// Drops offloaded work unrun (a pool that shut down).
#[derive(Debug)]
struct Dropping;

#[async_trait::async_trait]
impl Offload for Dropping {
    async fn run(&self, work: Box<dyn FnOnce() + Send>) {
        drop(work);
    }
}

/// Views of links of several workspaces written in one batch append to each
/// workspace's chain in order: every chain still verifies.
pub async fn a_batch_of_views_keeps_every_audit_chain_intact(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (a, b) = (f.user("a").await, f.user("b").await);
    let (wa, wb) = (f.workspace(&a, "A").await, f.workspace(&b, "B").await);
    let ja = f.app.create_job(&a, wa, job("Roof")).await.expect("job").id;
    let jb = f.app.create_job(&b, wb, job("Deck")).await.expect("job").id;
    let (la, _) = f.app.create_share_link(&a, wa, link(ShareRequest::Job(ja))).await.expect("link");
    let (lb, _) = f.app.create_share_link(&b, wb, link(ShareRequest::Job(jb))).await.expect("link");
    let batch: Vec<_> = (0..30)
        .map(|i| {
            let (l, viewed) = if i % 3 == 0 { (&lb, Viewed::Download) } else { (&la, Viewed::Page) };
            f.app.share_view(l, viewed, "192.0.2.0/24", "Chrome")
        })
        .collect();
    f.app.record_share_views(batch).await.expect("one batch");
    for (who, ws, link, n) in [(&a, wa, la.id, 20), (&b, wb, lb.id, 10)] {
        let views = f.app.share_views(who, ws, link, PageRequest::default()).await.expect("views");
        assert_eq!(views.items.len(), n);
        let report = f.app.verify_audit(who, ws).await.expect("verify");
        assert!(report.is_intact(), "{report:?}");
    }
}

/// A page read with its view recorded: many at once (a store may write them in groups)
/// each answer with the content and leave exactly one view and one audit event; a link
/// whose content is gone answers nothing and records nothing.
pub async fn pages_read_with_their_views_record_each_view_once(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let owner = f.user("owner").await;
    let ws = f.workspace(&owner, "Views").await;
    let j = f.app.create_job(&owner, ws, job("Roof")).await.expect("job").id;
    let (gallery, token) = f.app.create_share_link(&owner, ws, link(ShareRequest::Job(j))).await.expect("link");
    let opened = f.app.open_share(token.expose()).await.expect("open");
    let pages = (0..64).map(|i| {
        let (app, opened) = (f.app.clone(), opened.clone());
        let browser = if i % 2 == 0 { "Firefox" } else { "Chrome" };
        async move { app.view_shared_page(opened, "192.0.2.0/24", browser).await }
    });
    for page in futures_util::future::join_all(pages).await {
        assert_eq!(page.expect("page").link.id, gallery.id);
    }
    let views =
        f.app.share_views(&owner, ws, gallery.id, PageRequest { limit: 100, after: None }).await.expect("views");
    assert_eq!(views.items.len(), 64, "one view per page");
    assert_eq!(views.items.iter().filter(|v| v.browser == "Firefox").count(), 32);

    // A photo link whose photo is not processed yet shows nothing (it is being
    // prepared), and is not viewed.
    let p: PhotoId = upload(&f.app, &owner, ws, j, &jpeg(50)).await.expect("photo");
    let (single, token) = f.app.create_share_link(&owner, ws, link(ShareRequest::Photo(p))).await.expect("link");
    let opened_single = f.app.open_share(token.expose()).await.expect("open");
    let nothing = f.app.view_shared_page(opened_single, "192.0.2.0/24", "Chrome").await;
    assert!(matches!(nothing, Err(ShareRefusal::Preparing)), "{nothing:?}");
    let none = f.app.share_views(&owner, ws, single.id, PageRequest { limit: 10, after: None }).await.expect("views");
    assert!(none.items.is_empty(), "no view of a page that showed nothing");

    f.app.delete_job(&owner, ws, j).await.expect("trash the job");
    let gone = f.app.view_shared_page(opened, "192.0.2.0/24", "Chrome").await;
    assert!(matches!(gone, Err(ShareRefusal::Gone)), "{gone:?}");
    let views = f.app.share_views(&owner, ws, gallery.id, PageRequest { limit: 100, after: None }).await;
    assert!(views.is_err() || views.is_ok_and(|v| v.items.len() == 64), "no view of a page not shown");
    let chain = f.store.audit_chain(ws, 0, 1000).await.expect("chain");
    assert_eq!(chain.iter().filter(|e| e.action == "share_link.viewed").count(), 1, "the hour's first view");
    assert!(f.app.verify_audit(&owner, ws).await.expect("verify").is_intact());
}

/// Anonymous views reach the audit chain (which nothing prunes) in summary: one event
/// per link, kind and clock hour, however many views and however they are batched;
/// every view is kept in the link's views.
pub async fn anonymous_views_reach_the_audit_log_once_an_hour(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let owner = f.user("owner").await;
    let ws = f.workspace(&owner, "Busy link").await;
    let j = f.app.create_job(&owner, ws, job("Roof")).await.expect("job").id;
    let (busy, _) = f.app.create_share_link(&owner, ws, link(ShareRequest::Job(j))).await.expect("link");
    let (quiet, _) = f.app.create_share_link(&owner, ws, link(ShareRequest::Job(j))).await.expect("link");
    let events = || async {
        let chain = f.store.audit_chain(ws, 0, 100_000).await.expect("chain");
        chain.into_iter().filter(|e| e.action == "share_link.viewed").collect::<Vec<_>>()
    };
    let view = |l, viewed| f.app.share_view(l, viewed, "198.51.100.0/24", "Chrome");
    // Start at an hour's first second, so the hour is not crossed by accident.
    let now = f.clock_now();
    let next_hour = now - Duration::seconds(now.timestamp().rem_euclid(3600)) + Duration::hours(1);
    f.clock.advance(next_hour - now);
    for _ in 0..20 {
        let batch: Vec<_> = (0..50).map(|_| view(&busy, Viewed::Page)).collect();
        f.app.record_share_views(batch).await.expect("a batch");
        f.clock.advance(Duration::seconds(1));
    }
    for _ in 0..3 {
        f.app.record_share_views(vec![view(&busy, Viewed::Download)]).await.expect("a download");
    }
    f.app.record_share_views(vec![view(&quiet, Viewed::Page)]).await.expect("another link");
    let first = events().await;
    assert_eq!(first.len(), 3, "busy: a page and a download event; quiet: a page event");
    assert!(first.iter().all(|e| e.details.contains("\"hour\"")), "each names its hour");
    let all = PageRequest { limit: 500, after: None };
    let mut listed = 0;
    let mut page = f.app.share_views(&owner, ws, busy.id, all).await.expect("views");
    loop {
        listed += page.items.len();
        let Some(after) = page.next else { break };
        page = f.app.share_views(&owner, ws, busy.id, PageRequest { limit: 500, after: Some(after) }).await.expect("v");
    }
    assert_eq!(listed, 1_003, "every view is kept");

    // The next hour gets its own event.
    f.clock.advance(Duration::hours(1));
    f.app.record_share_views(vec![view(&busy, Viewed::Page), view(&busy, Viewed::Page)]).await.expect("later");
    assert_eq!(events().await.len(), 4);
    assert!(f.app.verify_audit(&owner, ws).await.expect("verify").is_intact());
}
