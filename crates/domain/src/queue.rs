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
