//! The contract cases. Each takes a fresh, empty store.

mod access;
mod assets;
mod audit;
mod identity;
mod instance;
mod membership;
mod photos;
mod queue;
mod redirect;
mod reports;
mod share;
mod standing;
mod tickets;

pub use access::*;
pub use assets::*;
pub use audit::*;
pub use identity::*;
pub use instance::*;
pub use membership::*;
pub use photos::*;
pub use queue::*;
pub use redirect::*;
pub use reports::*;
pub use share::*;
pub use standing::*;
pub use tickets::*;

use workvault_domain::audit::ChainReport;
use workvault_domain::secret::Token;
use workvault_domain::service::NewJob;

use crate::Fixture;

fn rename(name: &str) -> workvault_domain::service::WorkspaceChange {
    workvault_domain::service::WorkspaceChange { name: Some(name.into()), ..Default::default() }
}

fn job(title: &str) -> NewJob {
    NewJob { title: title.into(), ..Default::default() }
}

/// A well-formed token no store has seen.
fn unknown_token() -> Token {
    Token::generate(&workvault_domain::testing::SeqRng::starting_at(u64::MAX / 2))
}

fn intact(report: &ChainReport) -> bool {
    report.is_intact()
}

fn new_task(f: &Fixture, kind: &str, max_attempts: i32) -> workvault_domain::queue::NewTask {
    use workvault_domain::ports::{Clock, Rng};
    let clock: &dyn Clock = &*f.clock;
    let rng: &dyn Rng = &workvault_domain::testing::SeqRng::starting_at(rand_seed());
    workvault_domain::queue::NewTask {
        id: workvault_domain::id::TaskId::generate(clock, rng),
        kind: kind.into(),
        payload: r#"{"n":1}"#.into(),
        run_at: f.clock_now(),
        max_attempts,
        created_at: f.clock_now(),
    }
}

fn rand_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1 << 48);
    NEXT.fetch_add(1 << 20, Ordering::Relaxed)
}

/// A task as a worker holds it, of `kind` (its payload set by the caller).
fn queued_task(f: &Fixture, kind: &str) -> workvault_domain::queue::Task {
    let t = new_task(f, kind, 1);
    workvault_domain::queue::Task {
        id: t.id,
        kind: t.kind,
        payload: t.payload,
        state: workvault_domain::queue::TaskState::Running,
        attempts: 1,
        max_attempts: t.max_attempts,
        run_at: t.run_at,
        lease_until: None,
        locked_by: Some("contract".into()),
        last_error: None,
        created_at: t.created_at,
    }
}
