//! Background work: tasks kept in the database, claimed by workers under a lease,
//! retried with exponential backoff, and given up (`dead`) after their last attempt.
//! A worker that dies mid-task loses its lease; another worker takes the task again
//! once the lease expires, and the late worker's completion is refused, so a task
//! completes exactly once.

use chrono::{DateTime, Duration, Utc};

use crate::id::TaskId;

/// A task to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    /// Its id.
    pub id: TaskId,
    /// What to do (`maintenance.prune`, `photos.variants`, …): picks the handler.
    pub kind: String,
    /// The handler's input, as JSON text. No secrets.
    pub payload: String,
    /// Not before.
    pub run_at: DateTime<Utc>,
    /// Attempts before the task is given up.
    pub max_attempts: i32,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting for `run_at`.
    Ready,
    /// Leased to a worker.
    Running,
    /// Completed.
    Done,
    /// Given up after its last attempt.
    Dead,
}

impl TaskState {
    /// The stable name the stores keep.
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskState::Ready => "ready",
            TaskState::Running => "running",
            TaskState::Done => "done",
            TaskState::Dead => "dead",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        [TaskState::Ready, TaskState::Running, TaskState::Done, TaskState::Dead].into_iter().find(|t| t.as_str() == s)
    }
}

/// A task as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Its id.
    pub id: TaskId,
    /// What to do.
    pub kind: String,
    /// The handler's input.
    pub payload: String,
    /// Where it stands.
    pub state: TaskState,
    /// Attempts started so far (a claim starts one).
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Not before.
    pub run_at: DateTime<Utc>,
    /// The lease of the worker running it.
    pub lease_until: Option<DateTime<Utc>>,
    /// The worker running it.
    pub locked_by: Option<String>,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
}

/// First retry delay; each further retry doubles it.
pub const BACKOFF_BASE: Duration = Duration::seconds(10);
/// The longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::hours(1);

/// When a task that failed its `attempts`-th attempt runs again: 10 s, 20 s, 40 s, …,
/// at most an hour.
pub fn retry_at(now: DateTime<Utc>, attempts: i32) -> DateTime<Utc> {
    let exp = attempts.clamp(1, 20) - 1;
    let delay = BACKOFF_BASE.checked_mul(1 << exp).unwrap_or(BACKOFF_MAX).min(BACKOFF_MAX);
    now + delay
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let delays: Vec<i64> = (1..=12).map(|a| (retry_at(now, a) - now).num_seconds()).collect();
        assert_eq!(&delays[..5], &[10, 20, 40, 80, 160]);
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*delays.last().unwrap_or(&0), 3600);
        assert_eq!(retry_at(now, 0), retry_at(now, 1));
        assert_eq!(retry_at(now, i32::MAX) - now, BACKOFF_MAX);
    }

    #[test]
    fn states_round_trip() {
        for s in [TaskState::Ready, TaskState::Running, TaskState::Done, TaskState::Dead] {
            assert_eq!(TaskState::parse(s.as_str()), Some(s));
        }
    }
}

/// Runs one kind of task. Handlers are idempotent: a task may run again after a crash.
#[async_trait::async_trait]
pub trait TaskHandler: Send + Sync {
    /// The kind it runs.
    fn kind(&self) -> &'static str;
    /// Does the work; an error is recorded and the task retried with backoff.
    async fn run(&self, task: &Task) -> Result<(), String>;
}

/// What one turn of a worker did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Turn {
    /// No task was due.
    Idle,
    /// A task ran and completed.
    Completed(TaskId),
    /// A task failed; it is `Ready` again later, or `Dead`.
    Failed(TaskId, TaskState),
    /// The lease expired while the task ran and another worker took it over.
    LeaseLost(TaskId),
}

/// Waits a while: the runtime's timer, handed in (the domain has no runtime of its own).
pub type Sleep =
    std::sync::Arc<dyn Fn(std::time::Duration) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Claims due tasks and runs them with the handler for their kind, extending its lease
/// every third of the lease while a handler runs, so a long task is never taken over
/// while its worker is alive.
pub struct Worker {
    name: String,
    queue: std::sync::Arc<dyn crate::ports::TaskQueue>,
    clock: std::sync::Arc<dyn crate::ports::Clock>,
    handlers: Vec<std::sync::Arc<dyn TaskHandler>>,
    lease: Duration,
    sleep: Sleep,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<_> = self.handlers.iter().map(|h| h.kind()).collect();
        f.debug_struct("Worker").field("name", &self.name).field("kinds", &kinds).field("lease", &self.lease).finish()
    }
}

impl Worker {
    /// A worker named `name` (unique per process), leasing tasks for `lease`.
    pub fn new(
        name: impl Into<String>,
        queue: std::sync::Arc<dyn crate::ports::TaskQueue>,
        clock: std::sync::Arc<dyn crate::ports::Clock>,
        handlers: Vec<std::sync::Arc<dyn TaskHandler>>,
        lease: Duration,
        sleep: Sleep,
    ) -> Self {
        Self { name: name.into(), queue, clock, handlers, lease, sleep }
    }

    /// Extends the lease every third of it until the lease is lost; never returns
    /// while it holds the lease.
    async fn heartbeat(&self, task: TaskId) {
        let every = (self.lease / 3).to_std().unwrap_or(std::time::Duration::from_secs(1));
        loop {
            (self.sleep)(every).await;
            let until = self.clock.now() + self.lease;
            if let Err(crate::ports::StoreError::Conflict(crate::ports::Conflict::LeaseLost)) =
                self.queue.extend_lease(task, &self.name, until).await
            {
                return;
            }
        }
    }

    /// Runs the handler while the heartbeat keeps the lease.
    async fn run(&self, task: &Task) -> Result<(), String> {
        let work = async {
            match self.handlers.iter().find(|h| h.kind() == task.kind) {
                Some(handler) => handler.run(task).await,
                None => Err(format!("no handler for task kind `{}`", task.kind)),
            }
        };
        let mut work = std::pin::pin!(work);
        let mut beat = std::pin::pin!(self.heartbeat(task.id));
        let mut beating = true;
        std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(outcome) = work.as_mut().poll(cx) {
                return std::task::Poll::Ready(outcome);
            }
            if beating && beat.as_mut().poll(cx).is_ready() {
                // The lease is gone; the outcome will be refused when reported.
                beating = false;
            }
            std::task::Poll::Pending
        })
        .await
    }

    /// Claims one due task and runs it.
    pub async fn turn(&self) -> Result<Turn, crate::ports::StoreError> {
        use crate::ports::{Conflict, StoreError};
        let Some(task) = self.queue.claim(&self.name, self.clock.now(), self.lease).await? else {
            return Ok(Turn::Idle);
        };
        let outcome = self.run(&task).await;
        let now = self.clock.now();
        let done = match &outcome {
            Ok(()) => self.queue.complete(task.id, &self.name, now).await.map(|()| Turn::Completed(task.id)),
            Err(error) => {
                let next = retry_at(now, task.attempts);
                self.queue.fail(task.id, &self.name, error, now, next).await.map(|state| Turn::Failed(task.id, state))
            }
        };
        match done {
            Err(StoreError::Conflict(Conflict::LeaseLost)) => Ok(Turn::LeaseLost(task.id)),
            other => other,
        }
    }
}

/// The id of a scheduled task for one time slot: every node that schedules the same
/// kind for the same slot makes the same id, so the slot runs once.
pub fn scheduled_id(kind: &str, slot: i64) -> TaskId {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("workvault.task.{kind}.{slot}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    TaskId::from_uuid(uuid::Builder::from_custom_bytes(bytes).into_uuid())
}

/// The kind of the hourly credential clean-up.
pub const PRUNE_KIND: &str = "maintenance.prune_credentials";

/// How long ended sessions and sign-in links are kept before they are deleted.
pub const PRUNE_AFTER: Duration = Duration::days(7);

/// Deletes sessions and sign-in links that ended more than [`PRUNE_AFTER`] ago, share
/// link views older than their retention, and spent rate-limit windows (data
/// minimisation: nothing is kept that no longer serves a purpose), then schedules the
/// next run an hour later.
pub struct PruneCredentials {
    store: std::sync::Arc<dyn crate::ports::Store>,
    clock: std::sync::Arc<dyn crate::ports::Clock>,
    view_retention: Duration,
}

impl std::fmt::Debug for PruneCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PruneCredentials")
    }
}

impl PruneCredentials {
    /// The handler over a store.
    pub fn new(store: std::sync::Arc<dyn crate::ports::Store>, clock: std::sync::Arc<dyn crate::ports::Clock>) -> Self {
        Self { store, clock, view_retention: crate::Lifetimes::default().share_view_retention }
    }

    /// Keeps share link views this long in workspaces that chose no retention of their
    /// own (whole days; spent rate-limit windows no longer).
    pub fn with_view_retention(mut self, retention: Duration) -> Self {
        self.view_retention = retention;
        self
    }

    /// Enqueues the run for the hour after `now` (once, however many nodes ask).
    pub async fn schedule(&self, now: DateTime<Utc>) -> Result<(), crate::ports::StoreError> {
        schedule_hourly(&*self.store, PRUNE_KIND, now).await
    }
}

/// Enqueues a task of `kind` for the start of the hour after `now`, with an id derived
/// from the kind and the hour, so any number of nodes asking enqueue it once.
pub async fn schedule_hourly(
    queue: &dyn crate::ports::TaskQueue,
    kind: &str,
    now: DateTime<Utc>,
) -> Result<(), crate::ports::StoreError> {
    use crate::ports::{Conflict, StoreError};
    let slot = now.timestamp().div_euclid(3600) + 1;
    let run_at = DateTime::from_timestamp(slot * 3600, 0).unwrap_or(now);
    let task = NewTask {
        id: scheduled_id(kind, slot),
        kind: kind.into(),
        payload: "{}".into(),
        run_at,
        max_attempts: 3,
        created_at: now,
    };
    match queue.enqueue(&task).await {
        Ok(()) | Err(StoreError::Conflict(Conflict::Duplicate)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The kind of the hourly sweep of abandoned uploads.
pub const SWEEP_KIND: &str = "maintenance.sweep_uploads";

/// How old an unfinished upload must be before the sweep removes it.
pub const SWEEP_AFTER: Duration = Duration::hours(1);

/// Removes what interrupted uploads left in the blob store (temporary objects older
/// than [`SWEEP_AFTER`]), then schedules the next run an hour later.
pub struct SweepUploads {
    queue: std::sync::Arc<dyn crate::ports::Store>,
    blobs: std::sync::Arc<dyn crate::blob::BlobStore>,
    clock: std::sync::Arc<dyn crate::ports::Clock>,
}

impl std::fmt::Debug for SweepUploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SweepUploads")
    }
}

impl SweepUploads {
    /// The handler over a store (for its queue), the blobs and a clock.
    pub fn new(
        queue: std::sync::Arc<dyn crate::ports::Store>,
        blobs: std::sync::Arc<dyn crate::blob::BlobStore>,
        clock: std::sync::Arc<dyn crate::ports::Clock>,
    ) -> Self {
        Self { queue, blobs, clock }
    }

    /// Enqueues the run for the hour after `now`.
    pub async fn schedule(&self, now: DateTime<Utc>) -> Result<(), crate::ports::StoreError> {
        schedule_hourly(&*self.queue, SWEEP_KIND, now).await
    }
}

#[async_trait::async_trait]
impl TaskHandler for SweepUploads {
    fn kind(&self) -> &'static str {
        SWEEP_KIND
    }

    async fn run(&self, _task: &Task) -> Result<(), String> {
        let now = self.clock.now();
        let removed = self.blobs.sweep_unfinished(now - SWEEP_AFTER).await.map_err(|e| e.to_string())?;
        if removed > 0 {
            tracing::info!(removed, "removed unfinished uploads");
        }
        self.schedule(now).await.map_err(|e| e.to_string())
    }
}

#[async_trait::async_trait]
impl TaskHandler for PruneCredentials {
    fn kind(&self) -> &'static str {
        PRUNE_KIND
    }

    async fn run(&self, _task: &Task) -> Result<(), String> {
        let now = self.clock.now();
        self.store.prune_credentials(now - PRUNE_AFTER).await.map_err(|e| e.to_string())?;
        let default_days = u16::try_from(self.view_retention.num_days().max(1)).unwrap_or(u16::MAX);
        self.store.prune_views(now, default_days).await.map_err(|e| e.to_string())?;
        self.schedule(now).await.map_err(|e| e.to_string())
    }
}
