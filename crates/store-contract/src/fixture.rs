//! A domain application over the store under test, with a fixed clock and a
//! reproducible random source.

use std::sync::Arc;

use workvault_domain::id::{UserId, WorkspaceId};
use workvault_domain::model::Identity;
use workvault_domain::policy::Role;
use workvault_domain::ports::Store;
use workvault_domain::service::InviteRequest;
use workvault_domain::testing::{FixedClock, MemoryBlobs, SeqRng};
use workvault_domain::text::Email;
use workvault_domain::{Ctx, Lifetimes, Limits, Workvault};

/// The application under test and its clock.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The use cases, wired to the store under test.
    pub app: Workvault,
    /// The clock they read; tests move it.
    pub clock: Arc<FixedClock>,
    /// The store itself, for direct port calls.
    pub store: Arc<dyn Store>,
    /// The photo bytes (plaintext, in memory; uploads over 1 MiB are refused).
    pub blobs: Arc<MemoryBlobs>,
}

impl Fixture {
    /// Wraps a fresh store.
    pub fn new(store: Arc<dyn Store>) -> Self {
        let clock = Arc::new(FixedClock::default());
        let blobs = Arc::new(MemoryBlobs::default());
        let app = Workvault::new(store.clone(), clock.clone(), Arc::new(SeqRng::default()), Lifetimes::default())
            .with_blobs(blobs.clone(), Limits { max_upload_bytes: 1 << 20, max_import_bytes: 1 << 20 });
        Self { app, clock, store, blobs }
    }

    /// Signs a user in (creating them) and returns their context.
    pub async fn user(&self, name: &str) -> Ctx {
        let email = Email::parse(&format!("{name}@example.test")).expect("valid test email");
        let identity = Identity { issuer: "local".into(), subject: email.to_string(), email };
        let start = self.app.open_session(&identity, None).await.expect("sign-in");
        Ctx { user: start.user.id, request_id: None }
    }

    /// Creates a workspace owned by `owner`.
    pub async fn workspace(&self, owner: &Ctx, name: &str) -> WorkspaceId {
        self.app.create_workspace(owner, name).await.expect("create workspace").0.id
    }

    /// Adds `who` to `ws` with `role` through an invite from `by`.
    pub async fn join(&self, by: &Ctx, ws: WorkspaceId, who: &Ctx, role: Role) {
        let req = InviteRequest { role: Some(role), ..Default::default() };
        let (_, token) = self.app.create_invite(by, ws, req).await.expect("invite");
        self.app.accept_invite(who, &token).await.expect("accept");
    }

    /// The number of audit events in `ws`.
    pub async fn audit_len(&self, ws: WorkspaceId) -> usize {
        self.store.audit_chain(ws, 0, 100_000).await.expect("read audit chain").len()
    }

    /// The role of `user` in `ws`, read through the store.
    pub async fn role_of(&self, ws: WorkspaceId, user: UserId) -> Option<Role> {
        self.store.workspace_for(user, ws).await.expect("read membership").map(|(_, r)| r)
    }

    /// Now, on the fixture's clock.
    pub fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        workvault_domain::ports::Clock::now(&*self.clock)
    }

    /// An audit draft for writes made through the ports directly.
    pub fn store_draft(&self, ws: WorkspaceId) -> workvault_domain::audit::AuditDraft {
        workvault_domain::audit::AuditDraft {
            workspace_id: ws,
            at: self.clock_now(),
            actor: workvault_domain::audit::AuditActor::System,
            action: "test.write".into(),
            target_kind: "test".into(),
            target_id: "-".into(),
            details: serde_json::json!({}),
            request_id: None,
        }
    }
}
