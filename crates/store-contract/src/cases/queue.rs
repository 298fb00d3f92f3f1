//! The background task queue and its workers.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;
use workvault_domain::model::Identity;
use workvault_domain::ports::{Conflict, Store, StoreError};
use workvault_domain::text::Email;

use super::*;
use crate::Fixture;

/// Workers racing for tasks: every task is run, and never by two workers at once.
pub async fn two_workers_never_hold_the_same_task(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    for _ in 0..30 {
        store.enqueue(&new_task(&f, "test.work", 3)).await.expect("enqueue");
    }
    let now = f.clock_now();
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let name = format!("worker-{w}");
                let mut ran = Vec::new();
                while let Some(task) = store.claim(&name, now, Duration::seconds(60)).await.expect("claim") {
                    ran.push(task.id);
                    store.complete(task.id, &name, now).await.expect("complete while holding the lease");
                }
                ran
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (30, 30), "each task ran exactly once");
    for id in all {
        let task = store.task(id).await.expect("read").expect("exists");
        assert_eq!((task.state, task.attempts), (workvault_domain::queue::TaskState::Done, 1));
    }
}

/// A worker that dies mid-task loses its lease: another takes the task once the lease
/// expires, and the dead worker's late completion is refused. Exactly one completion.
pub async fn an_expired_lease_is_taken_again_and_completes_once(store: Arc<dyn Store>) {
    use workvault_domain::queue::TaskState;
    let f = Fixture::new(store.clone());
    let task = new_task(&f, "test.crash", 3);
    store.enqueue(&task).await.expect("enqueue");
    let lease = Duration::seconds(30);
    let first = store.claim("doomed", f.clock_now(), lease).await.expect("claim").expect("due");
    assert_eq!((first.id, first.attempts, first.state), (task.id, 1, TaskState::Running));
    assert!(
        store.claim("rescuer", f.clock_now(), lease).await.expect("claim").is_none(),
        "leased tasks are not handed out"
    );
    f.clock.advance(lease - Duration::seconds(1));
    assert!(store.claim("rescuer", f.clock_now(), lease).await.expect("claim").is_none(), "the lease still holds");
    f.clock.advance(Duration::seconds(1));
    let again = store.claim("rescuer", f.clock_now(), lease).await.expect("claim").expect("lease expired");
    assert_eq!((again.id, again.attempts, again.locked_by.as_deref()), (task.id, 2, Some("rescuer")));
    let late = store.complete(task.id, "doomed", f.clock_now()).await;
    assert!(matches!(late, Err(StoreError::Conflict(Conflict::LeaseLost))), "{late:?}");
    let late_fail = store.fail(task.id, "doomed", "boom", f.clock_now(), f.clock_now()).await;
    assert!(matches!(late_fail, Err(StoreError::Conflict(Conflict::LeaseLost))), "{late_fail:?}");
    store.complete(task.id, "rescuer", f.clock_now()).await.expect("the holder completes");
    let done = store.task(task.id).await.expect("read").expect("exists");
    assert_eq!((done.state, done.attempts), (TaskState::Done, 2));
    assert!(
        matches!(
            store.complete(task.id, "rescuer", f.clock_now()).await,
            Err(StoreError::Conflict(Conflict::LeaseLost))
        ),
        "completes once"
    );
}

/// Failed attempts back off, and the last one leaves the task dead; a crash on the last
/// attempt does too.
pub async fn failures_back_off_then_the_task_is_dead(store: Arc<dyn Store>) {
    use workvault_domain::queue::{TaskState, retry_at};
    let f = Fixture::new(store.clone());
    let task = new_task(&f, "test.flaky", 3);
    store.enqueue(&task).await.expect("enqueue");
    let lease = Duration::seconds(60);
    for attempt in 1..=3 {
        let claimed = store.claim("w", f.clock_now(), lease).await.expect("claim").expect("due");
        assert_eq!(claimed.attempts, attempt);
        let next = retry_at(f.clock_now(), attempt);
        let state = store.fail(task.id, "w", "it broke", f.clock_now(), next).await.expect("fail");
        if attempt < 3 {
            assert_eq!(state, TaskState::Ready);
            f.clock.set(next - Duration::microseconds(1));
            assert!(store.claim("w", f.clock_now(), lease).await.expect("claim").is_none(), "not before the backoff");
            f.clock.set(next);
        } else {
            assert_eq!(state, TaskState::Dead);
        }
    }
    let dead = store.task(task.id).await.expect("read").expect("exists");
    assert_eq!((dead.state, dead.last_error.as_deref()), (TaskState::Dead, Some("it broke")));
    f.clock.advance(Duration::days(1));
    assert!(store.claim("w", f.clock_now(), lease).await.expect("claim").is_none(), "a dead task is never handed out");

    let crashy = new_task(&f, "test.crashy", 1);
    store.enqueue(&crashy).await.expect("enqueue");
    store.claim("w", f.clock_now(), lease).await.expect("claim").expect("due");
    f.clock.advance(lease);
    assert!(store.claim("w", f.clock_now(), lease).await.expect("claim").is_none());
    let t = store.task(crashy.id).await.expect("read").expect("exists");
    assert_eq!(t.state, TaskState::Dead, "a crash on the last attempt gives the task up");
}

/// A worker runs due tasks with the handler of their kind; a task without a handler, or
/// whose handler fails, is retried with backoff and then dead. The credential clean-up
/// deletes only sessions and links that ended long enough ago, and schedules itself
/// once per hour however many nodes ask.
pub async fn workers_run_handlers_and_the_clean_up_keeps_what_is_live(store: Arc<dyn Store>) {
    use workvault_domain::queue::{PRUNE_AFTER, PRUNE_KIND, PruneCredentials, TaskHandler, TaskState, Turn, Worker};
    let f = Fixture::new(store.clone());
    let identity = Identity {
        issuer: "local".into(),
        subject: "p@example.test".into(),
        email: Email::parse("p@example.test").expect("email"),
    };
    let ended = f.app.open_session(&identity, None).await.expect("session");
    let session = f.app.authenticate(&ended.token).await.expect("auth").expect("live");
    f.app.sign_out(&session, None).await.expect("sign out");
    f.app.issue_sign_in_link("stale@example.test").await.expect("link");
    // A share link viewed now (old by the time the clean-up runs) and just before it.
    let owner = f.user("owner").await;
    let ws = f.workspace(&owner, "Views").await;
    let j = f.app.create_job(&owner, ws, job("Roof")).await.expect("job").id;
    let new_link = workvault_domain::service::NewShareLink {
        target: workvault_domain::service::ShareRequest::Job(j),
        expires_at: None,
        password: None,
        allow_download: false,
    };
    let (link, _) = f.app.create_share_link(&owner, ws, new_link).await.expect("link");
    f.app
        .record_share_view(&link, workvault_domain::share::Viewed::Page, "192.0.2.0/24", "Chrome")
        .await
        .expect("view recorded");
    // A workspace that keeps its views longer than the instance's default.
    let ws_long = f.workspace(&owner, "Keeps views").await;
    let longer =
        workvault_domain::service::WorkspaceChange { share_view_retention_days: Some(Some(400)), ..Default::default() };
    let (changed, _) = f.app.update_workspace(&owner, ws_long, longer).await.expect("retention");
    assert_eq!(changed.settings.share_view_retention_days, Some(400));
    let jl = f.app.create_job(&owner, ws_long, job("Deck")).await.expect("job").id;
    let long_link = workvault_domain::service::NewShareLink {
        target: workvault_domain::service::ShareRequest::Job(jl),
        expires_at: None,
        password: None,
        allow_download: false,
    };
    let (long_link, _) = f.app.create_share_link(&owner, ws_long, long_link).await.expect("link");
    f.app
        .record_share_view(&long_link, workvault_domain::share::Viewed::Page, "192.0.2.0/24", "Chrome")
        .await
        .expect("view recorded");
    f.clock.advance(PRUNE_AFTER + Duration::hours(1));
    let live = f.app.open_session(&identity, None).await.expect("session");
    let (_, fresh_link) = f.app.issue_sign_in_link("fresh@example.test").await.expect("link");

    let prune = Arc::new(PruneCredentials::new(store.clone(), f.clock.clone()).with_view_retention(Duration::days(1)));
    prune.schedule(f.clock_now()).await.expect("schedule");
    prune.schedule(f.clock_now()).await.expect("scheduling twice is one task");
    let doomed = new_task(&f, "test.unknown_kind", 1);
    store.enqueue(&doomed).await.expect("enqueue");
    let handlers: Vec<Arc<dyn TaskHandler>> = vec![prune.clone()];
    let sleep: workvault_domain::queue::Sleep = Arc::new(|d| Box::pin(tokio::time::sleep(d)));
    let worker = Worker::new("w1", store.clone(), f.clock.clone(), handlers, Duration::seconds(60), sleep);

    assert_eq!(worker.turn().await.expect("turn"), Turn::Failed(doomed.id, TaskState::Dead), "no handler, one attempt");
    assert_eq!(worker.turn().await.expect("turn"), Turn::Idle, "the clean-up is not due before its hour");
    f.clock.advance(Duration::hours(1));
    f.app
        .record_share_view(&link, workvault_domain::share::Viewed::Download, "192.0.2.0/24", "Chrome")
        .await
        .expect("view recorded");
    assert!(matches!(worker.turn().await.expect("turn"), Turn::Completed(_)));
    assert_eq!(worker.turn().await.expect("turn"), Turn::Idle, "exactly one clean-up for the slot");
    let views = f.app.share_views(&owner, ws, link.id, Default::default()).await.expect("views");
    let kept: Vec<_> = views.items.iter().map(|v| v.viewed).collect();
    assert_eq!(kept, [workvault_domain::share::Viewed::Download], "views past their retention went");
    let long_views = f.app.share_views(&owner, ws_long, long_link.id, Default::default()).await.expect("views");
    assert_eq!(long_views.items.len(), 1, "a workspace's own retention outlasts the default");
    let back =
        workvault_domain::service::WorkspaceChange { share_view_retention_days: Some(None), ..Default::default() };
    f.app.update_workspace(&owner, ws_long, back).await.expect("the default again");
    assert_eq!(store.prune_views(f.clock_now(), 1).await.expect("prune"), 1, "then the default applies");
    for days in [0, 3651] {
        let bad = workvault_domain::service::WorkspaceChange {
            share_view_retention_days: Some(Some(days)),
            ..Default::default()
        };
        let refused = f.app.update_workspace(&owner, ws_long, bad).await;
        assert!(matches!(refused, Err(workvault_domain::Error::Invalid { field: "share_view_retention_days", .. })));
    }

    let (sessions, _) = store.dump(workvault_domain::instance::RecordKind::Session, None, 100).await.expect("dump");
    assert_eq!(sessions.len(), 2, "the ended session went, the live ones (and the owner's) stayed");
    assert!(f.app.authenticate(&live.token).await.expect("auth").is_some());
    let (links, _) = store.dump(workvault_domain::instance::RecordKind::SignInLink, None, 100).await.expect("dump");
    assert_eq!(links.len(), 1);
    assert!(store.sign_in_link(&fresh_link.hash()).await.expect("read").is_some());
    // It scheduled the next hour.
    f.clock.advance(Duration::hours(1));
    assert!(matches!(worker.turn().await.expect("turn"), Turn::Completed(_)));
    let (tasks, _) = store.dump(workvault_domain::instance::RecordKind::Task, None, 100).await.expect("dump");
    let prunes = tasks
        .iter()
        .filter(|t| matches!(t, workvault_domain::instance::Record::Task(t) if t.kind == PRUNE_KIND))
        .count();
    assert_eq!(prunes, 3, "one per hour slot");
}

/// A long task keeps its lease: the worker's heartbeat extends it while the handler
/// runs, so nobody takes the task over; a lost lease cannot be extended.
pub async fn a_running_task_keeps_its_lease_by_heartbeat(store: Arc<dyn Store>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use workvault_domain::queue::{Task, TaskHandler, TaskState, Turn, Worker};

    struct Gate(tokio::sync::Notify, AtomicBool);
    #[async_trait::async_trait]
    impl TaskHandler for Gate {
        fn kind(&self) -> &'static str {
            "test.long"
        }
        async fn run(&self, _task: &Task) -> Result<(), String> {
            self.1.store(true, Ordering::SeqCst);
            self.0.notified().await;
            Ok(())
        }
    }

    let f = Fixture::new(store.clone());
    let task = new_task(&f, "test.long", 3);
    store.enqueue(&task).await.expect("enqueue");
    let gate = Arc::new(Gate(tokio::sync::Notify::new(), AtomicBool::new(false)));
    let lease = Duration::seconds(30);
    let sleep: workvault_domain::queue::Sleep =
        Arc::new(|_| Box::pin(tokio::time::sleep(std::time::Duration::from_millis(5))));
    let handlers: Vec<Arc<dyn TaskHandler>> = vec![gate.clone()];
    let worker = Worker::new("steady", store.clone(), f.clock.clone(), handlers, lease, sleep);
    let running = tokio::spawn(async move { worker.turn().await });
    while !gate.1.load(Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // Well past the first lease: the heartbeat has moved it on, nobody may take over.
    f.clock.advance(lease + Duration::seconds(5));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(store.claim("usurper", f.clock_now(), lease).await.expect("claim").is_none(), "the lease was extended");
    gate.0.notify_one();
    assert_eq!(running.await.expect("worker").expect("turn"), Turn::Completed(task.id));
    let done = store.task(task.id).await.expect("read").expect("exists");
    assert_eq!((done.state, done.attempts), (TaskState::Done, 1));
    let lost = store.extend_lease(task.id, "steady", f.clock_now() + lease).await;
    assert!(matches!(lost, Err(StoreError::Conflict(Conflict::LeaseLost))), "{lost:?}");
}

/// A worker killed mid-job (its task aborted while the handler runs): the lease runs
/// out, another worker takes the task over, and the job completes exactly once.
pub async fn a_worker_killed_mid_job_leaves_exactly_one_completed_run(store: Arc<dyn Store>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use workvault_domain::queue::{Task, TaskHandler, TaskState, Turn, Worker};

    #[derive(Default)]
    struct Job {
        started: AtomicUsize,
        completed: AtomicUsize,
        never: tokio::sync::Notify,
    }
    #[async_trait::async_trait]
    impl TaskHandler for Job {
        fn kind(&self) -> &'static str {
            "test.killed"
        }
        async fn run(&self, _task: &Task) -> Result<(), String> {
            if self.started.fetch_add(1, Ordering::SeqCst) == 0 {
                self.never.notified().await; // the first run hangs until its worker is killed
            }
            self.completed.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    let f = Fixture::new(store.clone());
    let task = new_task(&f, "test.killed", 3);
    store.enqueue(&task).await.expect("enqueue");
    let job = Arc::new(Job::default());
    let lease = Duration::seconds(30);
    let worker = |name: &str| {
        let sleep: workvault_domain::queue::Sleep =
            Arc::new(|_| Box::pin(tokio::time::sleep(std::time::Duration::from_millis(5))));
        let handlers: Vec<Arc<dyn TaskHandler>> = vec![job.clone()];
        Worker::new(name, store.clone(), f.clock.clone(), handlers, lease, sleep)
    };
    let doomed = worker("doomed");
    let running = tokio::spawn(async move { doomed.turn().await });
    while job.started.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    running.abort(); // killed mid-job: no completion, no more heartbeats
    assert!(running.await.is_err_and(|e| e.is_cancelled()));

    let rescuer = worker("rescuer");
    assert_eq!(rescuer.turn().await.expect("turn"), Turn::Idle, "the dead worker's lease still holds");
    f.clock.advance(lease + Duration::seconds(1));
    assert_eq!(rescuer.turn().await.expect("turn"), Turn::Completed(task.id));
    assert_eq!(rescuer.turn().await.expect("turn"), Turn::Idle);
    assert_eq!(job.completed.load(Ordering::SeqCst), 1, "exactly one completed run");
    let done = store.task(task.id).await.expect("read").expect("exists");
    assert_eq!((done.state, done.attempts, done.locked_by.as_deref()), (TaskState::Done, 2, Some("rescuer")));
}
