-- Redirect sign-ins in progress (OpenID Connect): kept from /auth/login until the
-- provider sends the browser back, then taken out (single use). Short-lived; the
-- hourly clean-up deletes those that were never finished.
CREATE TABLE auth_flows (
    state_hash    BLOB   PRIMARY KEY NOT NULL,
    nonce         TEXT   NOT NULL,
    pkce_verifier TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX auth_flows_expiry ON auth_flows (expires_at);
