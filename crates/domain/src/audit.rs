//! The append-only, tamper-evident audit log: one hash chain per workspace.
//!
//! Each event's hash is SHA-256 over a canonical, versioned encoding of its fields and
//! the previous event's hash. Stores append under a lock on the chain head, inside the
//! transaction of the change the event records, and call [`AuditDraft::seal`] to make
//! the event. [`verify_chain`] recomputes every hash from the first event on.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::id::{AuditEventId, RequestId, UserId, WorkspaceId};

/// The hash before a workspace's first event.
pub const GENESIS: [u8; 32] = [0; 32];

/// Version tag of the canonical encoding; bumped if the encoding ever changes.
const ENCODING_V1: &[u8] = b"workvault.audit.v1";

/// Who did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum AuditActor {
    /// A signed-in user.
    User(UserId),
    /// The system itself (background work, CLI).
    System,
    /// Someone without an account (a link holder).
    Anonymous,
}

impl AuditActor {
    /// Canonical text: `user:<id>`, `system`, `anonymous`.
    pub fn encode(&self) -> String {
        match self {
            AuditActor::User(id) => format!("user:{id}"),
            AuditActor::System => "system".into(),
            AuditActor::Anonymous => "anonymous".into(),
        }
    }

    /// Reads the canonical text back.
    pub fn decode(s: &str) -> Option<Self> {
        match s {
            "system" => Some(AuditActor::System),
            "anonymous" => Some(AuditActor::Anonymous),
            _ => s.strip_prefix("user:").and_then(|id| id.parse().ok()).map(AuditActor::User),
        }
    }
}

/// An event, before it is chained. Holds no secrets: tokens, keys and passwords never
/// go into `details`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditDraft {
    /// The workspace whose chain it joins.
    pub workspace_id: WorkspaceId,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: AuditActor,
    /// What, as a stable dotted code (`member.role_changed`).
    pub action: String,
    /// Kind of the resource acted on (`workspace`, `member`, `job`, …).
    pub target_kind: String,
    /// Its id.
    pub target_id: String,
    /// Further facts, as a JSON object (no secrets).
    pub details: serde_json::Value,
    /// The request that caused it, if any.
    pub request_id: Option<RequestId>,
}

/// A chained event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Its id.
    pub id: AuditEventId,
    /// Position in the workspace's chain, from 1.
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// Who.
    pub actor: AuditActor,
    /// What.
    pub action: String,
    /// Resource kind.
    pub target_kind: String,
    /// Resource id.
    pub target_id: String,
    /// The details exactly as stored (the hash covers these bytes).
    pub details: String,
    /// The causing request.
    pub request_id: Option<RequestId>,
    /// Hash of the previous event ([`GENESIS`] for the first).
    pub prev_hash: [u8; 32],
    /// This event's hash.
    pub hash: [u8; 32],
}

impl AuditDraft {
    /// Chains the draft after `prev_hash` as event number `seq`.
    pub fn seal(self, id: AuditEventId, seq: i64, prev_hash: [u8; 32]) -> AuditEvent {
        let mut event = AuditEvent {
            id,
            seq,
            at: self.at,
            workspace_id: self.workspace_id,
            actor: self.actor,
            action: self.action,
            target_kind: self.target_kind,
            target_id: self.target_id,
            details: self.details.to_string(),
            request_id: self.request_id,
            prev_hash,
            hash: [0; 32],
        };
        event.hash = event.compute_hash();
        event
    }
}

impl AuditEvent {
    /// SHA-256 over the versioned, length-prefixed encoding of every field but `hash`.
    pub fn compute_hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        field(ENCODING_V1);
        field(self.id.to_string().as_bytes());
        field(&self.seq.to_be_bytes());
        field(self.at.to_rfc3339_opts(SecondsFormat::Micros, true).as_bytes());
        field(self.workspace_id.to_string().as_bytes());
        field(self.actor.encode().as_bytes());
        field(self.action.as_bytes());
        field(self.target_kind.as_bytes());
        field(self.target_id.as_bytes());
        field(self.details.as_bytes());
        field(self.request_id.map(|r| r.to_string()).unwrap_or_default().as_bytes());
        field(&self.prev_hash);
        h.finalize().into()
    }
}

/// The result of checking a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Events checked.
    pub events: u64,
    /// The first broken link, if any.
    pub first_broken: Option<BrokenLink>,
}

impl ChainReport {
    /// Whether every link held.
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// Where and how a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    /// The sequence number of the first event that fails (or is missing).
    pub seq: i64,
    /// Its id, when the event is there.
    pub event_id: Option<AuditEventId>,
    /// What is wrong.
    pub problem: ChainProblem,
}

/// The ways a link can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainProblem {
    /// The stored hash is not the hash of the stored fields (the event was edited).
    HashMismatch,
    /// The event does not point at the previous event's hash (events removed or reordered).
    PrevHashMismatch,
    /// A sequence number is missing or repeated.
    SequenceGap,
    /// The chain ends before its recorded head, or differs from it (events removed
    /// from the end).
    HeadMismatch,
}

/// Incremental verifier: feed events in chain order, in pages, then call `finish`.
#[derive(Debug)]
pub struct ChainVerifier {
    prev_hash: [u8; 32],
    next_seq: i64,
    events: u64,
    broken: Option<BrokenLink>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self { prev_hash: GENESIS, next_seq: 1, events: 0, broken: None }
    }
}

impl ChainVerifier {
    /// Checks the next event. Stops recording at the first broken link.
    pub fn feed(&mut self, event: &AuditEvent) {
        if self.broken.is_some() {
            return;
        }
        self.events += 1;
        let problem = if event.seq != self.next_seq {
            Some(ChainProblem::SequenceGap)
        } else if event.compute_hash() != event.hash {
            Some(ChainProblem::HashMismatch)
        } else if event.prev_hash != self.prev_hash {
            Some(ChainProblem::PrevHashMismatch)
        } else {
            None
        };
        if let Some(problem) = problem {
            self.broken = Some(BrokenLink { seq: event.seq, event_id: Some(event.id), problem });
        }
        self.prev_hash = event.hash;
        self.next_seq = event.seq + 1;
    }

    /// Whether a broken link was already found (callers may stop reading).
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// The report, checking that the chain ends exactly at its recorded head
    /// (`seq`, `hash`), so events removed from the end are found too.
    pub fn finish_at(mut self, head: (i64, [u8; 32])) -> ChainReport {
        if self.broken.is_none() && (self.next_seq - 1 != head.0 || self.prev_hash != head.1) {
            self.broken = Some(BrokenLink { seq: self.next_seq, event_id: None, problem: ChainProblem::HeadMismatch });
        }
        self.finish()
    }

    /// The report.
    pub fn finish(self) -> ChainReport {
        ChainReport { events: self.events, first_broken: self.broken }
    }
}

/// Verifies a workspace's chain as a store holds it, from its first event up to the
/// head read first (events appended meanwhile are left for the next run), in pages.
/// `None` when the workspace has no chain at all.
pub async fn verify_stored_chain(
    store: &dyn crate::ports::AuditStore,
    ws: WorkspaceId,
) -> Result<Option<ChainReport>, crate::ports::StoreError> {
    const BATCH: u32 = 1000;
    let Some(head) = store.audit_head(ws).await? else { return Ok(None) };
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    loop {
        let batch = store.audit_chain(ws, after, BATCH).await?;
        let full = batch.len() == BATCH as usize;
        for e in batch.iter().take_while(|e| e.seq <= head.0) {
            verifier.feed(e);
            after = e.seq;
        }
        if !full || after >= head.0 || verifier.is_broken() {
            return Ok(Some(verifier.finish_at(head)));
        }
    }
}

/// Verifies a whole chain held in memory (tests, small workspaces).
pub fn verify_chain<'a>(events: impl IntoIterator<Item = &'a AuditEvent>) -> ChainReport {
    let mut v = ChainVerifier::default();
    for e in events {
        v.feed(e);
    }
    v.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use uuid::Uuid;

    fn chain(n: i64) -> Vec<AuditEvent> {
        let ws = WorkspaceId::from_uuid(Uuid::from_u128(7));
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let draft = AuditDraft {
                    workspace_id: ws,
                    at: Utc.timestamp_opt(1_700_000_000 + seq, 0).single().expect("valid"),
                    actor: AuditActor::User(UserId::from_uuid(Uuid::from_u128(1))),
                    action: "job.created".into(),
                    target_kind: "job".into(),
                    target_id: format!("j{seq}"),
                    details: serde_json::json!({"title": format!("Job {seq}")}),
                    request_id: None,
                };
                let e = draft.seal(AuditEventId::from_uuid(Uuid::from_u128(seq as u128)), seq, prev);
                prev = e.hash;
                e
            })
            .collect()
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let c = chain(5);
        let r = verify_chain(&c);
        assert!(r.is_intact());
        assert_eq!(r.events, 5);
    }

    #[test]
    fn an_edited_event_is_named_as_the_first_broken_link() {
        let mut c = chain(5);
        c[2].details = r#"{"title":"Forged"}"#.into();
        let r = verify_chain(&c);
        let broken = r.first_broken.expect("broken");
        assert_eq!((broken.seq, broken.problem), (3, ChainProblem::HashMismatch));
    }

    #[test]
    fn a_removed_event_breaks_the_chain() {
        let mut c = chain(5);
        c.remove(1);
        let broken = verify_chain(&c).first_broken.expect("broken");
        assert_eq!((broken.seq, broken.problem), (3, ChainProblem::SequenceGap));
    }

    #[test]
    fn a_rehashed_edit_still_breaks_at_the_next_link() {
        let mut c = chain(4);
        c[1].target_id = "forged".into();
        c[1].hash = c[1].compute_hash();
        let broken = verify_chain(&c).first_broken.expect("broken");
        assert_eq!((broken.seq, broken.problem), (3, ChainProblem::PrevHashMismatch));
    }

    #[test]
    fn events_removed_from_the_end_are_found_against_the_head() {
        let c = chain(5);
        let head = (c[4].seq, c[4].hash);
        let mut v = ChainVerifier::default();
        for e in &c[..3] {
            v.feed(e);
        }
        let broken = v.finish_at(head).first_broken.expect("truncation found");
        assert_eq!((broken.seq, broken.problem, broken.event_id), (4, ChainProblem::HeadMismatch, None));
        let mut whole = ChainVerifier::default();
        for e in &c {
            whole.feed(e);
        }
        assert!(whole.finish_at(head).is_intact());
        assert!(!ChainVerifier::default().finish_at(head).is_intact(), "an emptied chain is broken");
    }

    #[test]
    fn actors_round_trip_their_encoding() {
        for a in [AuditActor::System, AuditActor::Anonymous, AuditActor::User(UserId::from_uuid(Uuid::from_u128(9)))] {
            assert_eq!(AuditActor::decode(&a.encode()), Some(a));
        }
    }
}
