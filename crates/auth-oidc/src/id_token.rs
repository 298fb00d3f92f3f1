//! ID token checks: signature with an allowed asymmetric algorithm and a key from the
//! issuer's JWKS, `iss`, `aud` (the client id; `azp` when there are several), `exp`
//! and `iat` (with the leeway), the `nonce` of this sign-in, and a verified email.

use openidconnect::core::{CoreIdToken, CoreIdTokenClaims, CoreIdTokenVerifier, CoreJwsSigningAlgorithm};
use openidconnect::{ClaimsVerificationError, ClientId, IssuerUrl, Nonce, SignatureVerificationError};
use workvault_domain::identity::IdentityError;
use workvault_domain::model::Identity;
use workvault_domain::text::Email;

use crate::jwks::KeySet;

const ISSUED_IN_FUTURE: &str = "issued in the future";

/// What an ID token must match.
pub(crate) struct Expect<'a> {
    pub client_id: &'a str,
    pub issuer: &'a IssuerUrl,
    pub algorithms: &'a [CoreJwsSigningAlgorithm],
    pub leeway: chrono::Duration,
    pub require_verified_email: bool,
}

/// Checks the token against one key set.
pub(crate) fn verify(
    token: &CoreIdToken,
    keys: &KeySet,
    expect: &Expect<'_>,
    nonce: &Nonce,
) -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
    let leeway = expect.leeway;
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(expect.client_id.to_owned()),
        expect.issuer.clone(),
        keys.oidc.clone(),
    )
    .set_allowed_algs(expect.algorithms.to_vec())
    .set_time_fn(move || chrono::Utc::now() - leeway)
    .set_issue_time_verifier_fn(move |iat| {
        if iat > chrono::Utc::now() + leeway { Err(ISSUED_IN_FUTURE.to_owned()) } else { Ok(()) }
    });
    token.claims(&verifier, nonce).cloned()
}

/// Whether the failure is a key id the key set does not hold (worth one refetch).
pub(crate) fn unknown_key(e: &ClaimsVerificationError) -> bool {
    matches!(e, ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey))
}

/// The identity the claims vouch for.
pub(crate) fn identity(
    claims: &CoreIdTokenClaims,
    issuer: &str,
    expect: &Expect<'_>,
) -> Result<Identity, IdentityError> {
    let email = claims
        .email()
        .ok_or_else(|| rejected("the provider did not share an email address (the email scope is needed)"))?;
    if expect.require_verified_email && claims.email_verified() != Some(true) {
        return Err(rejected("the provider has not verified this email address"));
    }
    let email = Email::parse(email.as_str()).map_err(|_| rejected("the provider's email address is not valid"))?;
    Ok(Identity { issuer: issuer.to_owned(), subject: claims.subject().to_string(), email })
}

pub(crate) fn rejected(why: &str) -> IdentityError {
    IdentityError::Rejected(why.to_owned())
}

/// A refusal's reason, safe to show.
pub(crate) fn reason(e: &ClaimsVerificationError) -> &'static str {
    use ClaimsVerificationError as C;
    match e {
        // openidconnect reports a failed `iat` check as `Expired` with our message.
        C::Expired(m) if m == ISSUED_IN_FUTURE => "the ID token was issued in the future",
        C::Expired(_) => "the ID token has expired",
        C::InvalidAudience(_) => "the ID token is not for this application (audience)",
        C::InvalidIssuer(_) => "the ID token's issuer is not the configured one",
        C::InvalidNonce(_) => "the ID token's nonce does not match this sign-in",
        C::InvalidSubject(_) => "the ID token's subject is not valid",
        C::SignatureVerification(SignatureVerificationError::NoMatchingKey) => {
            "the ID token is signed with a key the issuer does not publish"
        }
        C::SignatureVerification(SignatureVerificationError::DisallowedAlg(_)) => {
            "the ID token's signing algorithm is not accepted"
        }
        C::SignatureVerification(_) => "the ID token's signature does not verify",
        _ => "the ID token is not valid",
    }
}
