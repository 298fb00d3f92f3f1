-- Redirect sign-ins in progress (OpenID Connect): kept from /auth/login until the
-- provider sends the browser back, then taken out (single use). Short-lived; the
-- hourly clean-up deletes those that were never finished.
CREATE TABLE auth_flows (
    state_hash    bytea       PRIMARY KEY,
    nonce         text        NOT NULL,
    pkce_verifier text        NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX auth_flows_expiry ON auth_flows (expires_at);
