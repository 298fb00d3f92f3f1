//! Bearer access tokens (JWT, RFC 9068): what is checked, in order, and the reason
//! each refusal names. The header is read first so that an unsigned token or a
//! symmetric algorithm is refused by name before any key is looked at.

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use workvault_domain::identity::BearerIdentity;
use workvault_domain::text::Email;

/// Longest token read (a JWT access token is a few hundred bytes to a few KiB).
pub(crate) const MAX_TOKEN_LEN: usize = 16 * 1024;

/// A refusal, safe to show to the caller (never holds the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

fn refuse(why: impl Into<String>) -> Refusal {
    Refusal(why.into())
}

/// What the header says, before anything is trusted.
#[derive(Debug)]
pub(crate) struct Header {
    pub alg: Algorithm,
    pub kid: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
}

/// `typ` values an access token may carry (RFC 9068 `at+jwt`; plain `JWT` from issuers
/// that predate it, Auth0 among them); absent is accepted too.
fn access_token_typ(typ: &str) -> bool {
    ["at+jwt", "application/at+jwt", "jwt"].contains(&typ.to_ascii_lowercase().as_str())
}

/// Reads the header and checks its algorithm against the allowed ones.
pub(crate) fn header(token: &str, allowed: &[Algorithm]) -> Result<Header, Refusal> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(refuse("the token is too long"));
    }
    let mut parts = token.split('.');
    let (Some(head), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(refuse("the bearer token is not a signed JWT"));
    };
    let raw: RawHeader = URL_SAFE_NO_PAD
        .decode(head)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| refuse("the token's header is not valid"))?;
    let name = raw.alg.ok_or_else(|| refuse("the token names no signing algorithm"))?;
    if name.eq_ignore_ascii_case("none") {
        return Err(refuse("unsigned tokens (alg none) are not accepted"));
    }
    let alg: Algorithm =
        name.parse().map_err(|_| refuse(format!("the signing algorithm {name:.16} is not accepted")))?;
    if !allowed.contains(&alg) {
        return Err(refuse(format!("the signing algorithm {name} is not accepted")));
    }
    if raw.typ.as_deref().is_some_and(|t| !access_token_typ(t)) {
        return Err(refuse("the token is not an access token (typ)"));
    }
    Ok(Header { alg, kid: raw.kid })
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    email: Option<String>,
    email_verified: Option<bool>,
    /// Only ID tokens carry one: an ID token is never an access token.
    nonce: Option<serde_json::Value>,
}

/// What the token must show besides its signature.
#[derive(Debug, Clone)]
pub(crate) struct Expect<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub leeway_secs: u64,
    pub require_verified_email: bool,
}

/// Verifies signature, issuer, audience, expiry and not-before with `key`.
pub(crate) fn verify(
    token: &str,
    header: &Header,
    key: &DecodingKey,
    expect: &Expect<'_>,
) -> Result<BearerIdentity, Refusal> {
    if key.family() != header.alg.family() {
        return Err(refuse("the token's algorithm does not match the issuer's key"));
    }
    let mut validation = Validation::new(header.alg);
    validation.leeway = expect.leeway_secs;
    validation.validate_nbf = true;
    validation.iss = Some(HashSet::from([expect.issuer.to_owned()]));
    validation.aud = Some(HashSet::from([expect.audience.to_owned()]));
    validation.required_spec_claims = ["exp", "iss", "aud", "sub"].into_iter().map(String::from).collect();
    let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| {
        refuse(match e.kind() {
            ErrorKind::ExpiredSignature => "the token has expired".to_owned(),
            ErrorKind::ImmatureSignature => "the token is not valid yet".to_owned(),
            ErrorKind::InvalidAudience => "the token is not for this API (audience)".to_owned(),
            ErrorKind::InvalidIssuer => "the token's issuer is not trusted".to_owned(),
            ErrorKind::InvalidSignature => "the token's signature does not verify".to_owned(),
            ErrorKind::MissingRequiredClaim(c) => format!("the token has no {c:.16} claim"),
            ErrorKind::InvalidAlgorithm => "the token's algorithm does not match the issuer's key".to_owned(),
            _ => "the token is malformed".to_owned(),
        })
    })?;
    let claims = data.claims;
    if claims.nonce.is_some() {
        return Err(refuse("the token is an ID token, not an access token"));
    }
    if claims.sub.is_empty() || claims.sub.len() > 255 {
        return Err(refuse("the token's subject is not valid"));
    }
    // The email makes an account on a first request only when it is vouched for.
    let vouched =
        claims.email_verified == Some(true) || !expect.require_verified_email && claims.email_verified.is_none();
    let email = if vouched { claims.email.as_deref().and_then(|e| Email::parse(e).ok()) } else { None };
    Ok(BearerIdentity { issuer: expect.issuer.to_owned(), subject: claims.sub, email })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: &str) -> String {
        format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(header))
    }

    #[test]
    fn unsigned_and_unlisted_algorithms_are_refused_by_name() {
        let allowed = [Algorithm::RS256];
        let none = header(&token(r#"{"alg":"none"}"#), &allowed).expect_err("refused");
        assert!(none.0.contains("alg none"), "{none}");
        let none_upper = header(&token(r#"{"alg":"NONE"}"#), &allowed).expect_err("refused");
        assert!(none_upper.0.contains("alg none"), "{none_upper}");
        let hs = header(&token(r#"{"alg":"HS256","kid":"k"}"#), &allowed).expect_err("refused");
        assert_eq!(hs.0, "the signing algorithm HS256 is not accepted");
        let made_up = header(&token(r#"{"alg":"XX999"}"#), &allowed).expect_err("refused");
        assert!(made_up.0.contains("not accepted"));
        let id = header(&token(r#"{"alg":"RS256","typ":"id_token+jwt"}"#), &allowed).expect_err("refused");
        assert!(id.0.contains("typ"), "{id}");
        header(&token(r#"{"alg":"RS256","typ":"at+jwt"}"#), &allowed).expect("an access token");
        header(&token(r#"{"alg":"RS256","typ":"JWT"}"#), &allowed).expect("Auth0's typ");
        let ok = header(&token(r#"{"alg":"RS256","kid":"k1"}"#), &allowed).expect("allowed");
        assert_eq!((ok.alg, ok.kid.as_deref()), (Algorithm::RS256, Some("k1")));
    }

    #[test]
    fn shapes_that_are_not_a_jws_are_refused() {
        let allowed = [Algorithm::RS256];
        for bad in ["", "abc", "a.b", "a.b.c.d", "!!.e30.c2ln", &"a".repeat(MAX_TOKEN_LEN + 1)] {
            assert!(header(bad, &allowed).is_err(), "{bad:.20}");
        }
        assert!(header(&token(r#"{"kid":"k"}"#), &allowed).expect_err("refused").0.contains("no signing algorithm"));
    }
}
