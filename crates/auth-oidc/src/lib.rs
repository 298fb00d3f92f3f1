#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod bearer;
mod config;
mod http;
mod id_token;
mod jwks;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use async_trait::async_trait;
use jsonwebtoken::Algorithm;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod,
    CoreGrantType, CoreIdToken, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType, CoreTokenResponse,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, LoginHint, Nonce, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata, RedirectUrl,
    RequestTokenError, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use url::Url;
use workvault_domain::identity::{
    AuthorizationRequest, BearerIdentity, IdentityError, IdentityProvider, SignInCallback, SignInMethod,
};
use workvault_domain::model::Identity;

pub use crate::config::{ConfigError, OidcConfig};
use crate::http::IssuerClient;
use crate::id_token::rejected;
use crate::jwks::Jwks;

/// The discovery fields `openidconnect` does not model: RP-initiated logout.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LogoutMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_session_endpoint: Option<String>,
}

impl AdditionalProviderMetadata for LogoutMetadata {}

type Metadata = ProviderMetadata<
    LogoutMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// Why the provider could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The configuration is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Discovery (or the first JWKS fetch) failed.
    #[error("OpenID Connect discovery at {issuer} failed: {reason}")]
    Discovery {
        /// The issuer asked.
        issuer: String,
        /// What went wrong.
        reason: String,
    },
}

/// An OpenID Connect issuer (Auth0 or any other) as Workvault's identity provider:
/// authorization code flow with PKCE (S256), `state` and `nonce`; ID tokens verified
/// for signature, issuer, audience, expiry and nonce with the allowed algorithms only;
/// bearer access tokens verified against the issuer's JWKS.
pub struct OidcProvider {
    config: OidcConfig,
    metadata: Metadata,
    issuer: String,
    http: IssuerClient,
    jwks: Arc<Jwks>,
    id_token_algs: Vec<CoreJwsSigningAlgorithm>,
    access_token_algs: Vec<Algorithm>,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider").field("issuer", &self.issuer).field("config", &self.config).finish()
    }
}

impl OidcProvider {
    /// Discovers the issuer (its `/.well-known/openid-configuration` and JWKS) and
    /// checks the configuration against it.
    pub async fn discover(config: OidcConfig) -> Result<Self, OidcError> {
        config.validate()?;
        let fail = |reason: String| OidcError::Discovery { issuer: config.issuer.clone(), reason };
        let http = IssuerClient::new(config.http_timeout).map_err(|e| fail(e.to_string()))?;
        let issuer_url = IssuerUrl::new(config.issuer.clone()).map_err(|e| fail(e.to_string()))?;
        let metadata = Metadata::discover_async(issuer_url, &http).await.map_err(|e| fail(discovery_reason(&e)))?;
        let jwks = Jwks::fetch(
            metadata.jwks_uri().url().to_string(),
            http.clone(),
            config.jwks_refetch_interval,
            config.jwks_max_age,
        )
        .await
        .map_err(|e| fail(e.to_string()))?;
        let id_token_algs = config.algorithms.iter().map(|a| config::id_token_alg(a)).collect::<Result<_, _>>()?;
        let access_token_algs =
            config.algorithms.iter().map(|a| config::access_token_alg(a)).collect::<Result<_, _>>()?;
        let issuer = metadata.issuer().as_str().to_owned();
        tracing::info!(%issuer, "OpenID Connect provider discovered");
        Ok(Self { config, metadata, issuer, http, jwks: Arc::new(jwks), id_token_algs, access_token_algs })
    }

    /// How many times the issuer's JWKS was fetched since start (the first fetch counts).
    pub fn jwks_fetches(&self) -> u64 {
        self.jwks.fetches()
    }

    fn client(&self) -> Result<OidcClient, IdentityError> {
        let redirect = RedirectUrl::new(self.config.redirect_url.to_string())
            .map_err(|e| IdentityError::Unavailable(format!("redirect URL: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            self.metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.to_string())),
        )
        .set_redirect_uri(redirect))
    }

    async fn id_token_identity(&self, code: &str, nonce: &str, verifier: &str) -> Result<Identity, IdentityError> {
        let client = self.client()?;
        let response = exchange(&client, code, verifier, &self.http).await?;
        let id_token = response.id_token().ok_or_else(|| rejected("the provider answered without an ID token"))?;
        self.identity_from(id_token, nonce).await
    }

    /// Checks a raw ID token as the callback does (for tests of the checks themselves).
    #[doc(hidden)]
    pub async fn check_id_token(&self, raw: &str, nonce: &str) -> Result<Identity, IdentityError> {
        let token: CoreIdToken = raw.parse().map_err(|_| rejected("the ID token is not a JWT"))?;
        self.identity_from(&token, nonce).await
    }

    async fn identity_from(&self, token: &CoreIdToken, nonce: &str) -> Result<Identity, IdentityError> {
        let nonce = Nonce::new(nonce.to_owned());
        let expect = id_token::Expect {
            client_id: &self.config.client_id,
            issuer: self.metadata.issuer(),
            algorithms: &self.id_token_algs,
            leeway: chrono::Duration::from_std(self.config.leeway).unwrap_or_default(),
            require_verified_email: self.config.require_verified_email,
        };
        let keys = self.jwks.current().await;
        let claims = match id_token::verify(token, &keys, &expect, &nonce) {
            Err(e) if id_token::unknown_key(&e) => match self.jwks.refetch(&keys).await {
                Some(fresh) => id_token::verify(token, &fresh, &expect, &nonce),
                None => Err(e),
            },
            other => other,
        }
        .map_err(|e| rejected(id_token::reason(&e)))?;
        id_token::identity(&claims, &self.issuer, &expect)
    }
}

fn discovery_reason<E: std::error::Error>(e: &openidconnect::DiscoveryError<E>) -> String {
    use openidconnect::DiscoveryError as D;
    match e {
        D::Request(e) => e.to_string(),
        D::Response(status, _, _) => format!("the discovery document answered HTTP {status}"),
        D::Parse(e) => format!("the discovery document is not valid: {e}"),
        D::Validation(e) => format!("the discovery document does not match the issuer: {e}"),
        other => other.to_string(),
    }
}

/// The client as `from_provider_metadata` makes it: authorization endpoint set, token
/// and userinfo endpoints as discovered.
type OidcClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// The provider's authorization URL for one sign-in.
fn authorize(client: &OidcClient, request: &AuthorizationRequest<'_>, scopes: &[String]) -> String {
    let (state, nonce) = (request.state.expose().to_owned(), request.nonce.expose().to_owned());
    let verifier = PkceCodeVerifier::new(request.pkce_verifier.expose().to_owned());
    let mut auth = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            move || CsrfToken::new(state),
            move || Nonce::new(nonce),
        )
        .add_scopes(scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier));
    if let Some(hint) = request.login_hint {
        auth = auth.set_login_hint(LoginHint::new(hint.to_owned()));
    }
    auth.url().0.to_string()
}

/// A provider's error code, kept only if it looks like one (letters, digits, `_`).
fn safe_code(code: &str) -> &str {
    let ok = !code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok { code } else { "error" }
}

/// Redeems the code at the token endpoint (client_secret_basic, with the PKCE verifier).
async fn exchange(
    client: &OidcClient,
    code: &str,
    verifier: &str,
    http: &IssuerClient,
) -> Result<CoreTokenResponse, IdentityError> {
    let request = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| IdentityError::Unavailable(format!("the provider has no token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()));
    request.request_async(http).await.map_err(|e| match e {
        RequestTokenError::ServerResponse(r) => {
            IdentityError::Rejected(format!("the provider refused the code ({})", safe_code(r.error().as_ref())))
        }
        RequestTokenError::Request(e) => IdentityError::Unavailable(e.to_string()),
        RequestTokenError::Parse(_, _) => {
            IdentityError::Unavailable("the provider's token response is not valid".to_owned())
        }
        RequestTokenError::Other(e) => IdentityError::Unavailable(e),
    })
}

#[async_trait]
impl IdentityProvider for OidcProvider {
    fn issuer(&self) -> &str {
        &self.issuer
    }

    fn method(&self) -> SignInMethod {
        SignInMethod::Redirect
    }

    fn authorization_url(&self, request: &AuthorizationRequest<'_>) -> Result<String, IdentityError> {
        Ok(authorize(&self.client()?, request, &self.config.scopes))
    }

    async fn complete(&self, callback: &SignInCallback) -> Result<Identity, IdentityError> {
        let SignInCallback::Code { code, flow } = callback else {
            return Err(IdentityError::Unsupported("sign-in links"));
        };
        self.id_token_identity(code, flow.nonce.expose(), flow.pkce_verifier.expose()).await
    }

    async fn verify_bearer(&self, token: &str) -> Result<BearerIdentity, IdentityError> {
        let refused = |r: bearer::Refusal| IdentityError::Rejected(r.0);
        let header = bearer::header(token, &self.access_token_algs).map_err(refused)?;
        let keys = self.jwks.current().await;
        let kid = match (&header.kid, keys.by_kid.len()) {
            (Some(kid), _) => kid.clone(),
            (None, 1) => keys.by_kid.keys().next().cloned().unwrap_or_default(),
            (None, _) => return Err(rejected("the token names no key id")),
        };
        let key = match keys.by_kid.get(&kid) {
            Some(key) => key.clone(),
            None => {
                let fresh = self.jwks.refetch(&keys).await;
                fresh
                    .and_then(|set| set.by_kid.get(&kid).cloned())
                    .ok_or_else(|| rejected("the token is signed with a key the issuer does not publish"))?
            }
        };
        let expect = bearer::Expect {
            issuer: &self.issuer,
            audience: &self.config.audience,
            leeway_secs: self.config.leeway.as_secs(),
            require_verified_email: self.config.require_verified_email,
        };
        bearer::verify(token, &header, &key, &expect).map_err(refused)
    }

    fn end_session_url(&self) -> Option<String> {
        let end = self.metadata.additional_metadata().end_session_endpoint.as_deref()?;
        let mut url = Url::parse(end).ok()?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("client_id", &self.config.client_id);
            if let Some(back) = &self.config.post_logout_redirect_url {
                query.append_pair("post_logout_redirect_uri", back.as_str());
            }
        }
        Some(url.to_string())
    }
}
