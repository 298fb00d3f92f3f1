// node rotate.mjs FILE: put a fresh RS256 key first (it signs), keep the old ones (still published)
import * as crypto from 'node:crypto'; import * as fs from 'node:fs';
const f = process.argv[2]; const jwks = JSON.parse(fs.readFileSync(f, 'utf8'));
const jwk = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
jwks.keys.unshift({ ...jwk, kid: `k-${crypto.randomBytes(6).toString('hex')}`, alg: 'RS256', use: 'sig' });
fs.writeFileSync(f, JSON.stringify(jwks)); console.log(jwks.keys.map((k) => k.kid).join(','));
