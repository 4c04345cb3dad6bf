// panva's openid-client (a strict, certified OAuth 2.0 / OpenID Connect client) against the hub:
// discovery, private_key_jwt client authentication with an Ed25519 key (which openid-client
// signs as alg "Ed25519", RFC 9864), the client_credentials grant, introspection and revocation.
//
// Environment: KEYWAY_HUB_URL, KEYWAY_CLIENT_ID, KEYWAY_PRIVATE_JWK (the client's Ed25519
// private key as a JWK, with "kid").
import * as client from 'openid-client';

function env(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`set ${name}`);
  }
  return value;
}

function check(condition, message) {
  if (!condition) {
    throw new Error(message);
  }
}

const hub = env('KEYWAY_HUB_URL').replace(/\/$/, '');
const clientId = env('KEYWAY_CLIENT_ID');
const jwk = JSON.parse(env('KEYWAY_PRIVATE_JWK'));
const key = await crypto.subtle.importKey('jwk', jwk, { name: 'Ed25519' }, false, ['sign']);

// Every assertion openid-client sends is looked at: the point is its default "alg".
const algs = [];
async function inspectingFetch(url, options) {
  const body = new URLSearchParams(options.body?.toString() ?? '');
  const assertion = body.get('client_assertion');
  if (assertion) {
    const header = JSON.parse(Buffer.from(assertion.split('.')[0], 'base64url').toString());
    algs.push(header.alg);
  }
  return fetch(url, options);
}

const config = await client.discovery(
  new URL(hub),
  clientId,
  undefined,
  client.PrivateKeyJwt({ key, kid: jwk.kid }),
  { execute: [client.allowInsecureRequests] },
);
config[client.customFetch] = inspectingFetch;
console.log('  - discovery');

const tokens = await client.clientCredentialsGrant(config, { scope: 'read' });
check(typeof tokens.access_token === 'string', 'no access token');
check(tokens.scope === 'read', `scope ${tokens.scope}`);
console.log('  - client_credentials with private_key_jwt');

const live = await client.tokenIntrospection(config, tokens.access_token);
check(live.active === true && live.client_id === clientId, `introspection: ${JSON.stringify(live)}`);
await client.tokenRevocation(config, tokens.access_token);
const revoked = await client.tokenIntrospection(config, tokens.access_token);
check(revoked.active === false, `after revocation: ${JSON.stringify(revoked)}`);
console.log('  - introspection and revocation');

check(algs.length === 4, `expected 4 assertions, saw ${algs.length}`);
check(algs.every((alg) => alg === 'Ed25519'), `assertion algs: ${algs.join(', ')}`);
console.log(`  - every assertion signed with alg ${algs[0]}`);
console.log('openid-client: ok');
