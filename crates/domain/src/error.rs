//! The use cases' error: business outcomes, each with a stable code the HTTP layer maps.

use crate::policy::DenyReason;
use crate::ports::{Conflict, StoreError};
use crate::text::TextError;

/// What a use case can refuse with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing there, or nothing the actor may know of (another workspace, an ungranted job).
    #[error("not found")]
    NotFound,
    /// The actor may see the resource but not do this to it.
    #[error("forbidden: {0:?}")]
    Forbidden(DenyReason),
    /// A field holds a bad value.
    #[error("{field} {problem}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The invite link is past its expiry.
    #[error("this invite has expired")]
    InviteExpired,
    /// The invite link was used already.
    #[error("this invite was already used")]
    InviteUsed,
    /// The invite link was revoked.
    #[error("this invite was revoked")]
    InviteRevoked,
    /// The invite is for another email address.
    #[error("this invite is for another email address")]
    InviteEmailMismatch,
    /// The user is already a member.
    #[error("already a member of this workspace")]
    AlreadyMember,
    /// The Owner's membership cannot be changed or removed; transfer ownership first.
    #[error("the owner's membership cannot be changed; transfer ownership first")]
    OwnerProtected,
    /// Ownership moved meanwhile.
    #[error("the actor is no longer the owner")]
    NotOwner,
    /// What the request was decided on changed meanwhile, or the record exists already;
    /// nothing was written. Retrying reads the new state.
    #[error("{0}")]
    Conflict(&'static str),
    /// Grants are for Restricted members; others see every job already.
    #[error("grants apply to restricted members only")]
    GrantNeedsRestricted,
    /// The sign-in link is unknown or malformed.
    #[error("this sign-in link is not valid")]
    SignInLinkInvalid,
    /// The sign-in link is past its expiry.
    #[error("this sign-in link has expired")]
    SignInLinkExpired,
    /// The sign-in link was used already.
    #[error("this sign-in link was already used")]
    SignInLinkUsed,
    /// This way of signing in is not enabled on this server (a sign-in link while
    /// OpenID Connect is on, or the reverse).
    #[error("{0}")]
    SignInMethodOff(&'static str),
    /// A redirect sign-in did not complete: no valid `state`, a flow that expired or was
    /// finished already, another browser, or an answer that did not verify. Nothing was
    /// signed in.
    #[error("{0}")]
    SignInFailed(String),
    /// The identity provider refused the sign-in (the user cancelled or is not allowed).
    #[error("the identity provider refused the sign-in ({0})")]
    SignInDenied(String),
    /// A bearer token did not verify; the reason names the failed check.
    #[error("{0}")]
    TokenRejected(String),
    /// No usable credentials for this request (the detail says why).
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// A valid bearer token of someone with no account here, and no email claim to make
    /// one with.
    #[error("no account for this token: sign in once through the browser")]
    AccountUnknown,
    /// The identity provider cannot be reached; nothing was signed in.
    #[error("identity provider unavailable")]
    IdentityProviderUnavailable(String),
    /// The workspace does not show photo locations (an Owner or Admin can turn
    /// `show_photo_location` on).
    #[error("this workspace does not show photo locations")]
    LocationHidden,
    /// The upload is larger than the limit (bytes); nothing was kept.
    #[error("the upload is larger than {0} bytes")]
    PayloadTooLarge(u64),
    /// The upload is not an image type Workvault takes (told from its bytes).
    #[error("the upload is not a JPEG, PNG, HEIC or WebP image")]
    UnsupportedImage,
    /// The file is not a photo (JPEG, PNG, HEIC, WebP) or a PDF (told from its bytes).
    #[error("the file is not a JPEG, PNG, HEIC or WebP image or a PDF")]
    UnsupportedAttachment,
    /// The upload is empty.
    #[error("the upload is empty")]
    EmptyBody,
    /// The upload could not be read to its end; nothing was kept.
    #[error("the upload could not be read: {0}")]
    BadBody(String),
    /// The range asked for is outside the content (of `size` bytes).
    #[error("the range is outside the content")]
    RangeNotSatisfiable {
        /// The content's length.
        size: u64,
    },
    /// The photo's variants are still being made.
    #[error("this variant is still being made")]
    VariantNotReady,
    /// The photo is not a readable image: only its original exists.
    #[error("this photo could not be read as an image; only the original is kept")]
    PhotoUnprocessable,
    /// The workspace's data key was destroyed: the content can never be read again.
    #[error("this content was destroyed")]
    ContentDestroyed,
    /// The blob storage failed, or the stored bytes do not authenticate.
    #[error("content unavailable")]
    ContentUnavailable(#[source] crate::blob::BlobError),
    /// A CSV file was refused whole: nothing was written. At most 100 problems are
    /// listed; `total` counts them all.
    #[error("the file has {total} problem(s); nothing was imported")]
    CsvRejected {
        /// The problems listed.
        errors: Vec<crate::asset_csv::CsvError>,
        /// How many there are in all.
        total: u64,
    },
    /// The body is not of a media type this route takes (the detail names the one it takes).
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    /// The store failed; nothing is known to have changed.
    #[error("store unavailable")]
    Unavailable(#[source] StoreError),
}

impl Error {
    /// A validation error on `field`.
    pub fn invalid(field: &'static str, problem: impl ToString) -> Self {
        Error::Invalid { field, problem: problem.to_string() }
    }

    /// Maps a policy refusal: those that must not leak existence become `NotFound`.
    pub fn denied(reason: DenyReason) -> Self {
        if reason.hides_existence() { Error::NotFound } else { Error::Forbidden(reason) }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Error::NotFound,
            // Answered as the same request would be now: a removed member's is not found.
            StoreError::Denied(reason) => Error::denied(reason),
            StoreError::Conflict(Conflict::AlreadyMember) => Error::AlreadyMember,
            StoreError::Conflict(Conflict::OwnerProtected) => Error::OwnerProtected,
            StoreError::Conflict(Conflict::NotOwner) => Error::NotOwner,
            StoreError::Conflict(Conflict::LinkNotPending) => Error::InviteUsed,
            StoreError::Conflict(Conflict::Stale) => {
                Error::Conflict("the record changed meanwhile: read it again and retry")
            }
            StoreError::Conflict(Conflict::ForeignPhoto) => Error::Invalid {
                field: "items",
                problem: "every photo must be a photo of this job, not in trash".into(),
            },
            StoreError::Conflict(Conflict::Duplicate) => Error::Conflict("a record with this identity exists already"),
            StoreError::Conflict(Conflict::Full) => Error::Conflict("this ticket holds as many replies as it takes"),
            StoreError::Conflict(Conflict::LeaseLost) => Error::Conflict("the task was taken over by another worker"),
            other => Error::Unavailable(other),
        }
    }
}

/// Turns a text validation error into a field error.
pub(crate) fn field(name: &'static str) -> impl FnOnce(TextError) -> Error {
    move |e| Error::invalid(name, e)
}
