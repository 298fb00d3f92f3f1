// Test OpenID Connect provider for Workvault tests (oidc-provider v9).
//
// Env:
//   OIDC_PORT              port on 127.0.0.1 (default 4010; 0 picks a free port, and the
//                          issuer then carries the port actually bound)
//   OIDC_JWKS_FILE         private JWKS (RS256 keys; generated and written if missing). The
//                          first key signs, all keys are published at /jwks (see rotate.mjs).
//   OIDC_ACCESS_TOKEN_TTL  access token lifetime in seconds (default 3600)
//   OIDC_REDIRECT_URIS     comma-separated redirect_uris of both clients
//                          (default http://127.0.0.1:8080/auth/callback)
//   OIDC_POST_LOGOUT_URIS  comma-separated post_logout_redirect_uris of both clients
//                          (default http://127.0.0.1:8080/)
//
// Prints one line `ready <issuer>` on stdout once it answers. oidc-provider may print
// "oidc-provider NOTICE: ..." lines on stdout too (and an "Unsupported runtime" warning on
// stderr under Node 20), so look for the line that starts with "ready ".
// SIGTERM or SIGINT stops it at once with exit code 0. Storage is in memory.
//
// Clients (client_secret_basic, secret workvault-test-secret, PKCE S256 required):
//   workvault           access tokens live OIDC_ACCESS_TOKEN_TTL seconds
//   workvault-expiring  access tokens live 2 seconds
// Users: alice, bob. Access tokens for the resource https://api.workvault.test are JWTs.
//
// Headless login: /auth redirects to /interaction/<uid> (keep the cookies). With
// login_hint=alice|bob on the authorization request, GET /interaction/<uid> logs that
// user in and consents at once (redirect back to /auth/<uid>, then to the redirect_uri).
// Without it, GET shows a one-field form; POST /interaction/<uid>/login with login=<user>
// does the same. An unknown user gets error=access_denied at the redirect_uri.
//
// RP-initiated logout: discovery's end_session_endpoint is /session/end. A GET with
// client_id (or id_token_hint) and a registered post_logout_redirect_uri (and optionally
// state) answers 200 with a page whose form auto-submits (script) a POST to
// /session/end/confirm with the xsrf secret and logout=yes; that POST, sent with the
// cookies of the GET, ends the whole session, revokes its grants and answers 303 to the
// post_logout_redirect_uri (plus state). oidc-provider's default page asks for a click
// instead; here logoutSource is replaced so a browser goes through without one.
import * as http from 'node:http';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import Provider, { errors } from 'oidc-provider';

const PORT = Number(process.env.OIDC_PORT || 4010);
const API = 'https://api.workvault.test';
const TTL = Number(process.env.OIDC_ACCESS_TOKEN_TTL || 3600);
const list = (value, fallback) => (value || fallback).split(',').map((s) => s.trim()).filter(Boolean);
const REDIRECT_URIS = list(process.env.OIDC_REDIRECT_URIS, 'http://127.0.0.1:8080/auth/callback');
const POST_LOGOUT_URIS = list(process.env.OIDC_POST_LOGOUT_URIS, 'http://127.0.0.1:8080/');

// ---- signing keys: first key of each alg signs, all are published ----
function newKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: `k-${crypto.randomBytes(6).toString('hex')}`, alg: 'RS256', use: 'sig' };
}
let jwks;
const jwksFile = process.env.OIDC_JWKS_FILE;
if (jwksFile && fs.existsSync(jwksFile)) jwks = JSON.parse(fs.readFileSync(jwksFile, 'utf8'));
else {
  jwks = { keys: [newKey()] };
  if (jwksFile) fs.writeFileSync(jwksFile, JSON.stringify(jwks));
}

// ---- fixed test users ----
const USERS = {
  alice: { email: 'alice@workvault.test', name: 'Alice Test' },
  bob: { email: 'bob@workvault.test', name: 'Bob Test' },
};

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// The provider is made once the port is bound, so OIDC_PORT=0 gets the right issuer.
let provider;
let oidc;

function makeProvider(issuer) {
  const p = new Provider(issuer, {
    clients: [
      {
        client_id: 'workvault',
        client_secret: 'workvault-test-secret',
        redirect_uris: REDIRECT_URIS,
        post_logout_redirect_uris: POST_LOGOUT_URIS,
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      { // same, but every access token it gets lives 2 seconds (expiry tests)
        client_id: 'workvault-expiring',
        client_secret: 'workvault-test-secret',
        redirect_uris: REDIRECT_URIS,
        post_logout_redirect_uris: POST_LOGOUT_URIS,
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        response_types: ['code'],
      },
    ],
    jwks,
    cookies: { keys: ['workvault-test-cookie-key'] },
    pkce: { required: () => true }, // S256 only (the default method list)
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    async findAccount(ctx, id) {
      const u = USERS[id];
      if (!u) return undefined;
      return {
        accountId: id,
        async claims() { return { sub: id, email: u.email, email_verified: true, name: u.name }; },
      };
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // The default asks "Do you want to sign-out?" and waits for a click. This page
        // submits the same form by itself with logout=yes (end the whole session).
        async logoutSource(ctx, form) {
          const auto = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>');
          ctx.body = `<!doctype html><html><head><meta charset="utf-8"><title>Signing out</title>
<script>document.addEventListener('DOMContentLoaded', function () { document.forms[0].submit() });</script>
</head><body>${auto}<noscript><button type="submit" form="op.logoutForm">Sign out</button></noscript></body></html>`;
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = '<!doctype html><html><head><meta charset="utf-8"><title>Signed out</title></head><body><h1>Signed out</h1></body></html>';
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => API,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource, client) => {
          if (resource !== API) throw new errors.InvalidTarget();
          return {
            scope: 'api:read api:write',
            audience: API,
            accessTokenFormat: 'jwt',
            accessTokenTTL: client.clientId === 'workvault-expiring' ? 2 : TTL,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    // put the user's email into JWT access tokens too
    async extraTokenClaims(ctx, token) {
      if (token.accountId && USERS[token.accountId]) return { email: USERS[token.accountId].email, email_verified: true };
      return undefined;
    },
    issueRefreshToken: (ctx, client, code) => client.grantTypeAllowed('refresh_token'),
    ttl: {
      AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL ?? TTL,
      ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? TTL,
      IdToken: 3600, AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 3600,
      RefreshToken: 86400,
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    clientBasedCORS: () => true,
    // plain error page (the default one pulls a web font from the internet)
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = `<!doctype html><html><head><meta charset="utf-8"><title>Error</title></head><body><h1>Error</h1>${
        Object.entries(out).map(([k, v]) => `<pre><strong>${esc(k)}</strong>: ${esc(v)}</pre>`).join('')}</body></html>`;
    },
  });
  p.proxy = false;
  return p;
}

// ---- headless interaction: GET shows a form (or auto-logs in a login_hint user),
//      POST login=<user> logs that user in and grants everything asked for ----
async function finish(req, res, accountId) {
  const details = await provider.interactionDetails(req, res);
  const { params } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  grant.addOIDCScope(String(params.scope || 'openid'));
  const resource = params.resource || API;
  grant.addResourceScope(resource, String(params.scope || ''));
  const grantId = await grant.save();
  await provider.interactionFinished(req, res,
    { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
}

const server = http.createServer(async (req, res) => {
  if (!oidc) { res.statusCode = 503; return res.end(); }
  const m = req.url.match(/^\/interaction\/([\w-]+)(\/login)?$/);
  if (!m) return oidc(req, res);
  try {
    if (req.method === 'GET') {
      const { params } = await provider.interactionDetails(req, res);
      if (params.login_hint && USERS[params.login_hint]) return await finish(req, res, params.login_hint);
      res.setHeader('content-type', 'text/html');
      return res.end(`<!doctype html><title>Sign in</title><form method="post" action="/interaction/${m[1]}/login">
<input name="login" placeholder="alice or bob" autofocus><button type="submit">Sign in</button></form>`);
    }
    if (req.method === 'POST') {
      let body = '';
      for await (const c of req) body += c;
      const login = new URLSearchParams(body).get('login');
      if (!USERS[login]) {
        return await provider.interactionFinished(req, res,
          { error: 'access_denied', error_description: 'unknown test user' }, { mergeWithLastSubmission: false });
      }
      return await finish(req, res, login);
    }
    res.statusCode = 405; res.end();
  } catch (e) {
    res.statusCode = 400; res.end(String(e));
  }
});

server.on('error', (e) => {
  console.error(`oidc provider: ${e.message}`);
  process.exit(1);
});

server.listen(PORT, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = makeProvider(issuer);
  oidc = provider.callback();
  console.log(`ready ${issuer}`);
});

function stop() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
