//! Every error the API answers with: RFC 9457 `application/problem+json` with a stable
//! snake_case `code`, a human `detail` and the request id. [`CODES`] is the one table of
//! codes, statuses and titles; `docs/api-errors.md` is checked against it by a test.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use workvault_domain::Error as DomainError;
use workvault_domain::policy::DenyReason;

/// One API error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// The stable code frontends translate.
    pub code: &'static str,
    /// The HTTP status it answers with.
    pub status: u16,
    /// A short, fixed title.
    pub title: &'static str,
}

macro_rules! codes {
    ($($name:ident = ($code:literal, $status:literal, $title:literal);)*) => {
        $(
            #[allow(missing_docs)]
            pub const $name: Code = Code { code: $code, status: $status, title: $title };
        )*
        /// Every code, in documentation order.
        pub const CODES: &[Code] = &[$($name),*];
    };
}

codes! {
    INVALID_JSON = ("invalid_json", 400, "The request body is not valid JSON");
    UNKNOWN_FIELD = ("unknown_field", 400, "The request body has a field this endpoint does not take");
    INVALID_BODY = ("invalid_body", 400, "The request body does not have the expected shape");
    INVALID_ID = ("invalid_id", 400, "An id in the path is not valid");
    INVALID_QUERY = ("invalid_query", 400, "A query parameter is not valid");
    UNSUPPORTED_MEDIA_TYPE = ("unsupported_media_type", 415, "The request body is not of a media type this endpoint takes");
    PAYLOAD_TOO_LARGE = ("payload_too_large", 413, "The request body is too large");
    VALIDATION_FAILED = ("validation_failed", 422, "A field has an invalid value");
    CSV_INVALID = ("csv_invalid", 422, "The CSV file has problems; nothing was imported");
    UNAUTHENTICATED = ("unauthenticated", 401, "Sign-in required");
    CROSS_SITE_REQUEST = ("cross_site_request", 403, "Cross-site requests are refused");
    ROLE_INSUFFICIENT = ("role_insufficient", 403, "Your role does not allow this");
    TARGET_OUT_OF_REACH = ("target_out_of_reach", 403, "Your role does not allow acting on this member");
    ROLE_NOT_ASSIGNABLE = ("role_not_assignable", 403, "Your role cannot hand out this role");
    NOT_FOUND = ("not_found", 404, "Not found");
    ROUTE_NOT_FOUND = ("route_not_found", 404, "No such endpoint");
    METHOD_NOT_ALLOWED = ("method_not_allowed", 405, "This endpoint does not take this method");
    INVITE_EXPIRED = ("invite_expired", 410, "The invite has expired");
    INVITE_USED = ("invite_used", 410, "The invite was already used");
    INVITE_REVOKED = ("invite_revoked", 410, "The invite was revoked");
    INVITE_EMAIL_MISMATCH = ("invite_email_mismatch", 403, "The invite is for another email address");
    ALREADY_MEMBER = ("already_member", 409, "Already a member of this workspace");
    OWNER_PROTECTED = ("owner_protected", 409, "The owner's membership cannot be changed; transfer ownership first");
    NOT_OWNER = ("not_owner", 409, "Ownership changed meanwhile");
    CONFLICT = ("conflict", 409, "The record changed meanwhile or exists already");
    GRANT_NEEDS_RESTRICTED = ("grant_needs_restricted", 422, "Grants apply to restricted members only");
    SIGN_IN_LINK_UNUSABLE = ("sign_in_link_unusable", 410, "This sign-in link cannot be used");
    SIGN_IN_METHOD_OFF = ("sign_in_method_off", 404, "This way of signing in is not enabled on this server");
    SIGN_IN_FAILED = ("sign_in_failed", 401, "The sign-in did not complete");
    SIGN_IN_DENIED = ("sign_in_denied", 401, "The identity provider refused the sign-in");
    INVALID_TOKEN = ("invalid_token", 401, "The bearer token is not valid");
    NO_SESSION = ("no_session", 409, "There is no browser session to end");
    IDENTITY_PROVIDER_UNAVAILABLE = ("identity_provider_unavailable", 503, "The identity provider cannot be reached");
    UNSUPPORTED_IMAGE = ("unsupported_image", 415, "The upload is not a JPEG, PNG, HEIC or WebP image");
    UNSUPPORTED_ATTACHMENT = ("unsupported_attachment", 415, "The file is not a JPEG, PNG, HEIC or WebP image or a PDF");
    EMPTY_BODY = ("empty_body", 400, "The request body is empty");
    BODY_INCOMPLETE = ("body_incomplete", 400, "The request body could not be read to its end");
    RANGE_NOT_SATISFIABLE = ("range_not_satisfiable", 416, "The range is outside the content");
    VARIANT_NOT_READY = ("variant_not_ready", 409, "This variant is still being made; try again shortly");
    UPLOADS_BUSY = ("uploads_busy", 503, "This server is taking as many uploads as it can; retry shortly");
    LOCATION_HIDDEN = ("location_hidden", 403, "This workspace does not show photo locations");
    PHOTO_UNPROCESSABLE = ("photo_unprocessable", 422, "This photo could not be read as an image; only the original is kept");
    CONTENT_DESTROYED = ("content_destroyed", 410, "This content was destroyed and can never be read again");
    CONTENT_CORRUPT = ("content_corrupt", 500, "The stored content failed its integrity check");
    CONTENT_UNAVAILABLE = ("content_unavailable", 503, "The content storage is temporarily unavailable");
    STORE_UNAVAILABLE = ("store_unavailable", 503, "The service is temporarily unavailable");
    INTERNAL = ("internal", 500, "Internal error");
}

/// A field-level problem, listed in `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field (JSON name).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// An API error: a code and a detail for the caller. The cause of a 5xx goes to the
/// log only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The code.
    pub code: Code,
    /// A human explanation, safe to show.
    pub detail: String,
    /// Field errors, for `validation_failed`.
    pub errors: Vec<FieldError>,
    /// Extra response headers (`Content-Range` on a 416, `Retry-After`…).
    pub headers: Vec<(&'static str, String)>,
    /// Row errors of a refused CSV file, and how many there are in all.
    pub rows: Option<Box<(Vec<RowError>, u64)>>,
}

/// One problem of a refused CSV file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowError {
    /// The record's number, counting the header as 1 (0: the file as a whole).
    pub row: u64,
    /// The column's header name, when the problem is one cell's.
    pub column: Option<String>,
    /// A stable code (`invalid_date`, `ragged_row`, `formula`, …).
    pub code: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

/// The problem document, as sent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`urn:workvault:problem:<code>`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short, fixed title.
    pub title: &'static str,
    /// HTTP status.
    pub status: u16,
    /// What happened, for a human.
    pub detail: String,
    /// Stable code.
    pub code: &'static str,
    /// The request id (also in `X-Request-Id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Field errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// A refused CSV file's problems (at most 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_errors: Option<Vec<RowError>>,
    /// How many problems the refused CSV file has in all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_count: Option<u64>,
}

impl ApiError {
    /// An error with a code and detail.
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into(), errors: Vec::new(), headers: Vec::new(), rows: None }
    }

    /// The same error with one more response header.
    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// An error whose detail is its title.
    pub fn plain(code: Code) -> Self {
        Self::new(code, code.title)
    }

    /// The problem document for a request.
    pub fn problem(&self, request_id: Option<String>) -> Problem {
        Problem {
            kind: format!("urn:workvault:problem:{}", self.code.code),
            title: self.code.title,
            status: self.code.status,
            detail: self.detail.clone(),
            code: self.code.code,
            request_id,
            errors: self.errors.clone(),
            row_errors: self.rows.as_ref().map(|r| r.0.clone()),
            error_count: self.rows.as_ref().map(|r| r.1),
        }
    }

    /// The response body for a request.
    pub fn body(&self, request_id: Option<String>) -> String {
        serde_json::to_string(&self.problem(request_id)).unwrap_or_else(|_| String::from("{}"))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.code, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The body without a request id; the request-id middleware renders it again with one.
    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json")));
        if self.code == UNAUTHENTICATED {
            res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer, Cookie")));
        } else if self.code == INVALID_TOKEN {
            // RFC 6750 §3: the scheme and the error, not the reason (that is in the body).
            res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\"")));
        }
        for (name, value) in &self.headers {
            res.insert_header((*name, value.clone()));
        }
        res.body(self.body(None))
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound => ApiError::plain(NOT_FOUND),
            DomainError::Forbidden(reason) => ApiError::plain(match reason {
                DenyReason::TargetOutOfReach => TARGET_OUT_OF_REACH,
                DenyReason::RoleNotAssignable => ROLE_NOT_ASSIGNABLE,
                DenyReason::RoleInsufficient | DenyReason::NotMember | DenyReason::NotGranted => ROLE_INSUFFICIENT,
            }),
            DomainError::Invalid { field, problem } => ApiError {
                code: VALIDATION_FAILED,
                detail: format!("{field} {problem}"),
                errors: vec![FieldError { field: field.to_owned(), message: problem }],
                headers: Vec::new(),
                rows: None,
            },
            DomainError::CsvRejected { errors, total } => {
                let rows = errors
                    .into_iter()
                    .map(|e| RowError { row: e.row, column: e.column, code: e.code, message: e.message })
                    .collect();
                let detail = format!("the file has {total} problem(s); nothing was imported");
                ApiError { rows: Some(Box::new((rows, total))), ..ApiError::new(CSV_INVALID, detail) }
            }
            DomainError::UnsupportedMediaType(detail) => ApiError::new(UNSUPPORTED_MEDIA_TYPE, detail),
            DomainError::InviteExpired => ApiError::plain(INVITE_EXPIRED),
            DomainError::InviteUsed => ApiError::plain(INVITE_USED),
            DomainError::InviteRevoked => ApiError::plain(INVITE_REVOKED),
            DomainError::InviteEmailMismatch => ApiError::plain(INVITE_EMAIL_MISMATCH),
            DomainError::AlreadyMember => ApiError::plain(ALREADY_MEMBER),
            DomainError::OwnerProtected => ApiError::plain(OWNER_PROTECTED),
            DomainError::NotOwner => ApiError::plain(NOT_OWNER),
            DomainError::Conflict(detail) => ApiError::new(CONFLICT, detail),
            DomainError::GrantNeedsRestricted => ApiError::plain(GRANT_NEEDS_RESTRICTED),
            // One answer whether the link is unknown, expired or used, so a link cannot be
            // probed for which it is.
            DomainError::SignInLinkInvalid | DomainError::SignInLinkExpired | DomainError::SignInLinkUsed => {
                ApiError::new(
                    SIGN_IN_LINK_UNUSABLE,
                    "It has expired, was used already, or is not a sign-in link of this server: ask for a new one",
                )
            }
            DomainError::SignInMethodOff(detail) => ApiError::new(SIGN_IN_METHOD_OFF, detail),
            DomainError::SignInFailed(detail) => ApiError::new(SIGN_IN_FAILED, detail),
            DomainError::SignInDenied(code) => {
                ApiError::new(SIGN_IN_DENIED, format!("the identity provider answered {code}: nobody was signed in"))
            }
            DomainError::TokenRejected(detail) => ApiError::new(INVALID_TOKEN, detail),
            DomainError::Unauthenticated(detail) => ApiError::new(UNAUTHENTICATED, detail),
            DomainError::AccountUnknown => ApiError::new(
                UNAUTHENTICATED,
                "no account for this token's subject, and the token carries no email to make one: sign in once through the browser",
            ),
            DomainError::IdentityProviderUnavailable(cause) => {
                tracing::warn!(error = %cause, "identity provider unavailable");
                ApiError::plain(IDENTITY_PROVIDER_UNAVAILABLE)
            }
            DomainError::PayloadTooLarge(limit) => {
                ApiError::new(PAYLOAD_TOO_LARGE, format!("the upload must be at most {limit} bytes"))
            }
            DomainError::UnsupportedImage => ApiError::plain(UNSUPPORTED_IMAGE),
            DomainError::UnsupportedAttachment => ApiError::plain(UNSUPPORTED_ATTACHMENT),
            DomainError::EmptyBody => ApiError::plain(EMPTY_BODY),
            DomainError::BadBody(_) => ApiError::plain(BODY_INCOMPLETE),
            DomainError::RangeNotSatisfiable { size } => {
                ApiError::new(RANGE_NOT_SATISFIABLE, format!("the content is {size} bytes; ask for a range inside it"))
                    .with_header("content-range", format!("bytes */{size}"))
            }
            DomainError::ContentDestroyed => ApiError::plain(CONTENT_DESTROYED),
            DomainError::VariantNotReady => ApiError::plain(VARIANT_NOT_READY).with_header("retry-after", "2".into()),
            DomainError::PhotoUnprocessable => ApiError::plain(PHOTO_UNPROCESSABLE),
            DomainError::LocationHidden => ApiError::new(
                LOCATION_HIDDEN,
                "an Owner or Admin can turn on the workspace setting `show_photo_location`",
            ),
            DomainError::ContentUnavailable(workvault_domain::blob::BlobError::Corrupt(cause)) => {
                tracing::error!(%cause, "stored content failed its integrity check");
                ApiError::plain(CONTENT_CORRUPT)
            }
            DomainError::ContentUnavailable(workvault_domain::blob::BlobError::NotFound) => {
                // A record whose bytes are gone is lost data, not a passing outage.
                tracing::error!("a photo's blob is missing from storage");
                ApiError::plain(CONTENT_CORRUPT)
            }
            DomainError::ContentUnavailable(cause) => {
                tracing::error!(error = %cause, "blob storage failure");
                ApiError::plain(CONTENT_UNAVAILABLE)
            }
            DomainError::Unavailable(cause) => {
                tracing::error!(error = %cause, source = ?std::error::Error::source(&cause), "store failure");
                ApiError::plain(STORE_UNAVAILABLE)
            }
        }
    }
}

/// Maps actix's JSON extractor errors to problems: syntax, unknown fields, shape,
/// content type and size each get their own code.
pub(crate) fn json_error(err: actix_web::error::JsonPayloadError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    let api = match &err {
        J::ContentType => ApiError::plain(UNSUPPORTED_MEDIA_TYPE),
        J::Overflow { limit } | J::OverflowKnownLength { limit, .. } => {
            ApiError::new(PAYLOAD_TOO_LARGE, format!("the body must be at most {limit} bytes"))
        }
        J::Deserialize(e) if e.is_syntax() || e.is_eof() => ApiError::new(INVALID_JSON, e.to_string()),
        J::Deserialize(e) if e.to_string().starts_with("unknown field") => ApiError::new(UNKNOWN_FIELD, e.to_string()),
        J::Deserialize(e) => ApiError::new(INVALID_BODY, e.to_string()),
        other => ApiError::new(INVALID_JSON, other.to_string()),
    };
    api.into()
}

/// Maps query-string errors.
pub(crate) fn query_error(err: actix_web::error::QueryPayloadError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::new(INVALID_QUERY, err.to_string()).into()
}

/// Maps path errors.
pub(crate) fn path_error(err: actix_web::error::PathError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::new(INVALID_ID, err.to_string()).into()
}
