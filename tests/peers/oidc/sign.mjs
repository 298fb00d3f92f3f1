// node sign.mjs JWKS_FILE 'HEADER_JSON' 'CLAIMS_JSON'
//
// Prints a compact JWS over CLAIMS_JSON (taken as is: set iss, aud, exp, ... yourself),
// signed with a private key from the provider's own JWKS file (OIDC_JWKS_FILE), so tests
// can mint tokens the provider would never issue. The header is HEADER_JSON with defaults:
//   alg  RS256 (also RS384, RS512, PS256, PS384, PS512);
//        "none": no signature (the token ends with a '.');
//        "HS256": HMAC-SHA256 keyed with the RSA key's public modulus (the base64url-
//        decoded `n` bytes), a key-confusion attack token.
//   kid  the first key's kid. The key with that kid signs; an unknown kid is kept in the
//        header and the first key signs.
// No typ is added: pass e.g. "typ":"at+jwt" for an access token. A field given as null
// is left out of the header (e.g. {"kid":null} for a token without a kid).
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';

const [file, headerJson = '{}', claimsJson = '{}'] = process.argv.slice(2);
if (!file) {
  console.error("usage: node sign.mjs JWKS_FILE 'HEADER_JSON' 'CLAIMS_JSON'");
  process.exit(2);
}
const { keys } = JSON.parse(fs.readFileSync(file, 'utf8'));
if (!keys?.length) {
  console.error(`sign.mjs: no keys in ${file}`);
  process.exit(1);
}

const header = { alg: 'RS256', kid: keys[0].kid, ...JSON.parse(headerJson) };
for (const [k, v] of Object.entries(header)) if (v === null) delete header[k];
const claims = JSON.parse(claimsJson);
const jwk = keys.find((k) => k.kid === header.kid) ?? keys[0];

const b64u = (buf) => Buffer.from(buf).toString('base64url'); // no padding
const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;

let signature;
const alg = header.alg;
if (alg === 'none') {
  signature = '';
} else if (alg === 'HS256') {
  signature = b64u(crypto.createHmac('sha256', Buffer.from(jwk.n, 'base64url')).update(input).digest());
} else {
  const m = /^(RS|PS)(256|384|512)$/.exec(alg ?? '');
  if (!m) {
    console.error(`sign.mjs: unsupported alg ${alg}`);
    process.exit(1);
  }
  const key = crypto.createPrivateKey({ key: jwk, format: 'jwk' });
  const opts = m[1] === 'PS'
    ? { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(m[2]) / 8 }
    : key;
  signature = b64u(crypto.sign(`sha${m[2]}`, Buffer.from(input), opts));
}
console.log(`${input}.${signature}`);
