//! Newtype identifiers. Every id is a UUIDv7 (time-ordered), made from the
//! [`Clock`](crate::ports::Clock) and [`Rng`](crate::ports::Rng) ports so tests can fix both.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ports::{Clock, Rng};

/// An id string that is not a valid UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a valid id")]
pub struct InvalidId(pub String);

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn generate(clock: &dyn Clock, rng: &dyn Rng) -> Self {
                Self(new_v7(clock, rng))
            }
            /// Wraps an existing UUID (as read back from a store).
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }
            /// The UUID inside.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.as_hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.as_hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                // Only the canonical hyphenated form: one spelling per id.
                if s.len() != 36 {
                    return Err(InvalidId(s.chars().take(64).collect()));
                }
                Uuid::parse_str(s).map(Self).map_err(|_| InvalidId(s.chars().take(64).collect()))
            }
        }
    )*};
}

ids! {
    /// Identifies a workspace (a tenant).
    WorkspaceId;
    /// Identifies a user account.
    UserId;
    /// Identifies a job.
    JobId;
    /// Identifies an invite.
    InviteId;
    /// Identifies an audit event.
    AuditEventId;
    /// Identifies a server-side session.
    SessionId;
    /// Identifies one HTTP request (echoed in error bodies and audit events).
    RequestId;
    /// Identifies a background task.
    TaskId;
    /// Identifies a photo.
    PhotoId;
    /// Identifies a photo report.
    ReportId;
    /// Identifies a share link.
    ShareLinkId;
    /// Identifies one recorded view of a share link.
    ShareViewId;
    /// Identifies an asset.
    AssetId;
    /// Identifies a helpdesk ticket.
    TicketId;
    /// Identifies a reply on a ticket.
    ReplyId;
    /// Identifies a public ticket submit link.
    SubmitLinkId;
    /// Identifies a file attached to a ticket.
    AttachmentId;
}

fn new_v7(clock: &dyn Clock, rng: &dyn Rng) -> Uuid {
    let millis = u64::try_from(clock.now().timestamp_millis()).unwrap_or(0);
    let mut random = [0u8; 10];
    rng.fill(&mut random);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}
