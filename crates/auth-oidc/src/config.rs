//! The adapter's typed configuration (the binary fills it from `[auth.oidc]`).

use std::time::Duration;

use jsonwebtoken::Algorithm;
use openidconnect::core::CoreJwsSigningAlgorithm;
use url::Url;
use zeroize::Zeroizing;

/// Signing algorithms that may be allowed: asymmetric only. `none` and the HMAC
/// family (`HS*`) are refused at start-up, so a public key can never be used as an
/// HMAC secret.
pub const ASYMMETRIC_ALGORITHMS: &[&str] =
    &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

/// How to reach and trust one OpenID Connect issuer.
#[derive(Clone)]
pub struct OidcConfig {
    /// The issuer, exactly as it names itself in tokens (Auth0: `https://TENANT.auth0.com/`,
    /// with the trailing slash).
    pub issuer: String,
    /// The application's client id.
    pub client_id: String,
    /// The application's client secret (sent with client_secret_basic).
    pub client_secret: Zeroizing<String>,
    /// Where the provider sends the browser back (`https://HOST/auth/callback`).
    pub redirect_url: Url,
    /// Where the provider sends the browser after its own sign-out, if anywhere.
    pub post_logout_redirect_url: Option<Url>,
    /// The API audience bearer access tokens must be issued for.
    pub audience: String,
    /// Scopes asked for besides `openid` (`email` is needed).
    pub scopes: Vec<String>,
    /// Signing algorithms accepted for ID and access tokens.
    pub algorithms: Vec<String>,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    /// Shortest time between two JWKS fetches caused by an unknown key id.
    pub jwks_refetch_interval: Duration,
    /// Age after which the JWKS is fetched again on next use.
    pub jwks_max_age: Duration,
    /// Timeout of each request to the issuer.
    pub http_timeout: Duration,
    /// Refuse sign-ins whose email the provider has not verified.
    pub require_verified_email: bool,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("redirect_url", &self.redirect_url.as_str())
            .field("audience", &self.audience)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl OidcConfig {
    /// A configuration with the defaults for everything but the issuer, the client and
    /// the URLs.
    pub fn new(issuer: &str, client_id: &str, client_secret: &str, redirect_url: Url, audience: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: Zeroizing::new(client_secret.to_owned()),
            redirect_url,
            post_logout_redirect_url: None,
            audience: audience.to_owned(),
            scopes: vec!["email".into(), "profile".into()],
            algorithms: vec!["RS256".into()],
            leeway: Duration::from_secs(30),
            jwks_refetch_interval: Duration::from_secs(30),
            jwks_max_age: Duration::from_secs(3600),
            http_timeout: Duration::from_secs(10),
            require_verified_email: true,
        }
    }

    /// Every problem at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        match Url::parse(&self.issuer) {
            Ok(url) if url.scheme() == "https" || is_loopback_http(&url) => {}
            Ok(_) => problems.push("issuer must be https (plain http only on a loopback address)".to_owned()),
            Err(e) => problems.push(format!("issuer is not a URL: {e}")),
        }
        if self.client_id.is_empty() {
            problems.push("client_id is empty".into());
        }
        if self.client_secret.is_empty() {
            problems.push("client_secret is empty".into());
        }
        if self.audience.is_empty() {
            problems.push("audience is empty".into());
        } else if self.audience == self.client_id {
            // ID tokens carry the client id as their audience: with the same value an
            // ID token could pass as an access token.
            problems.push("audience must be the API identifier, not the client id".into());
        }
        if self.algorithms.is_empty() {
            problems.push("algorithms is empty".into());
        }
        for alg in &self.algorithms {
            if !ASYMMETRIC_ALGORITHMS.contains(&alg.as_str()) {
                problems.push(format!(
                    "algorithm {alg} is not accepted (allowed: {}; never none or HS*)",
                    ASYMMETRIC_ALGORITHMS.join(", ")
                ));
            }
        }
        if self.leeway > Duration::from_secs(300) {
            problems.push("leeway is over 5 minutes".into());
        }
        if problems.is_empty() { Ok(()) } else { Err(ConfigError(problems)) }
    }
}

fn is_loopback_http(url: &Url) -> bool {
    url.scheme() == "http"
        && match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        }
}

/// What is wrong with a configuration.
#[derive(Debug, thiserror::Error)]
#[error("OpenID Connect configuration: {}", .0.join("; "))]
pub struct ConfigError(pub Vec<String>);

pub(crate) fn id_token_alg(name: &str) -> Result<CoreJwsSigningAlgorithm, ConfigError> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|_| ConfigError(vec![format!("algorithm {name} is not known")]))
}

pub(crate) fn access_token_alg(name: &str) -> Result<Algorithm, ConfigError> {
    name.parse().map_err(|_| ConfigError(vec![format!("algorithm {name} is not known")]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OidcConfig {
        let redirect = Url::parse("https://wv.example/auth/callback").expect("url");
        OidcConfig::new("https://tenant.auth0.com/", "client", "secret", redirect, "https://api.example")
    }

    #[test]
    fn defaults_are_valid_and_every_allowed_algorithm_is_known_to_both_verifiers() {
        config().validate().expect("valid");
        for alg in ASYMMETRIC_ALGORITHMS {
            id_token_alg(alg).expect("id token alg");
            access_token_alg(alg).expect("access token alg");
        }
    }

    #[test]
    fn none_and_hmac_are_refused_with_every_other_problem_at_once() {
        let mut c = config();
        c.algorithms = vec!["none".into(), "HS256".into(), "RS256".into()];
        c.issuer = "http://auth.example/".into();
        c.client_secret = Zeroizing::new(String::new());
        let ConfigError(problems) = c.validate().expect_err("refused");
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("algorithm none")));
        assert!(problems.iter().any(|p| p.contains("algorithm HS256")));
        assert!(problems.iter().any(|p| p.contains("https")));
        assert!(problems.iter().any(|p| p.contains("client_secret")));
    }

    #[test]
    fn plain_http_issuers_only_on_loopback() {
        let mut c = config();
        c.issuer = "http://127.0.0.1:4010".into();
        c.validate().expect("loopback http is fine");
        c.issuer = "http://10.0.0.1:4010".into();
        assert!(c.validate().is_err());
    }

    #[test]
    fn the_secret_never_prints() {
        assert!(!format!("{:?}", config()).contains("secret\""));
        assert!(format!("{:?}", config()).contains("[redacted]"));
    }
}
