//! `[auth]` and `[auth.oidc]`: which identity provider signs people in.

use serde::{Deserialize, Serialize};
use url::Url;
use workvault_auth_oidc::OidcConfig;

/// `[auth]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// `local`: single-use sign-in links printed by `workvault sign-in-link`.
    /// `oidc`: an OpenID Connect issuer (Auth0), configured in `[auth.oidc]`.
    pub provider: String,
    /// The OpenID Connect issuer, used when `provider = "oidc"`.
    pub oidc: OidcSection,
}

/// A secret string from the configuration: never printed.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretString(pub String);

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "[redacted]" })
    }
}

/// `[auth.oidc]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSection {
    /// The issuer exactly as it names itself (Auth0: `https://TENANT.auth0.com/`).
    pub issuer: String,
    /// The application's client id.
    pub client_id: String,
    /// The application's client secret.
    pub client_secret: SecretString,
    /// The API audience bearer access tokens are issued for.
    pub audience: String,
    /// Where the provider sends the browser back. Default: `<public_url>/auth/callback`.
    pub redirect_url: Option<String>,
    /// Where the provider sends the browser after its sign-out. Default: `<public_url>/`.
    pub post_logout_redirect_url: Option<String>,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// Signing algorithms accepted (asymmetric only).
    pub algorithms: Vec<String>,
    /// Clock skew tolerated on token times, in seconds.
    pub leeway_secs: u64,
    /// Shortest time between two JWKS fetches caused by an unknown key id, in seconds.
    pub jwks_refetch_secs: u64,
    /// Age after which the JWKS is fetched again, in seconds.
    pub jwks_max_age_secs: u64,
    /// Timeout of each request to the issuer, in seconds.
    pub http_timeout_secs: u64,
    /// Refuse sign-ins whose email the provider has not verified.
    pub require_verified_email: bool,
}

impl Default for OidcSection {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            client_id: String::new(),
            client_secret: SecretString::default(),
            audience: String::new(),
            redirect_url: None,
            post_logout_redirect_url: None,
            scopes: vec!["email".into(), "profile".into()],
            algorithms: vec!["RS256".into()],
            leeway_secs: 30,
            jwks_refetch_secs: 30,
            jwks_max_age_secs: 3600,
            http_timeout_secs: 10,
            require_verified_email: true,
        }
    }
}

impl AuthConfig {
    /// The OpenID Connect adapter's configuration when `provider = "oidc"`; problems
    /// go to `problems`.
    pub(super) fn validate(&self, public_url: Option<&Url>, problems: &mut Vec<String>) -> Option<OidcConfig> {
        match (self.provider.as_str(), public_url) {
            ("local", _) | ("oidc", None) => None,
            ("oidc", Some(public)) => self.oidc.adapter(public).map_err(|p| problems.extend(p)).ok(),
            (other, _) => {
                problems
                    .push(format!("auth.provider: `{other}` is not a provider this server knows (`local` or `oidc`)"));
                None
            }
        }
    }
}

impl OidcSection {
    /// The adapter's configuration, with the URLs defaulted from the public URL.
    fn adapter(&self, public_url: &Url) -> Result<OidcConfig, Vec<String>> {
        let url = |key: &str, value: &Option<String>, default: &str| -> Result<Url, String> {
            let raw =
                value.clone().unwrap_or_else(|| format!("{}{default}", public_url.as_str().trim_end_matches('/')));
            Url::parse(&raw).map_err(|e| format!("auth.oidc.{key}: `{raw}` is not a URL ({e})"))
        };
        let redirect = url("redirect_url", &self.redirect_url, "/auth/callback");
        let after = url("post_logout_redirect_url", &self.post_logout_redirect_url, "/");
        let (redirect, after) = match (redirect, after) {
            (Ok(r), Ok(a)) => (r, a),
            (r, a) => return Err([r.err(), a.err()].into_iter().flatten().collect()),
        };
        let mut c = OidcConfig::new(&self.issuer, &self.client_id, &self.client_secret.0, redirect, &self.audience);
        c.post_logout_redirect_url = Some(after);
        c.scopes = self.scopes.clone();
        c.algorithms = self.algorithms.clone();
        c.leeway = std::time::Duration::from_secs(self.leeway_secs);
        // At least a second between refetches: made-up key ids must not drive fetches.
        c.jwks_refetch_interval = std::time::Duration::from_secs(self.jwks_refetch_secs.max(1));
        c.jwks_max_age = std::time::Duration::from_secs(self.jwks_max_age_secs.max(60));
        c.http_timeout = std::time::Duration::from_secs(self.http_timeout_secs.clamp(1, 120));
        c.require_verified_email = self.require_verified_email;
        c.validate().map_err(|e| e.0.into_iter().map(|p| format!("auth.oidc: {p}")).collect::<Vec<_>>())?;
        Ok(c)
    }
}
