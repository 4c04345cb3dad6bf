// panva's openid-client (a strict, certified OAuth 2.0 / OpenID Connect client) against the hub:
// discovery, private_key_jwt client authentication with an Ed25519 key (which openid-client
// signs as alg "Ed25519", RFC 9864), the client_credentials grant, introspection and
// revocation, and authorization code flows through a pushed authorization request (RFC 9126;
// the client is registered with --require-par, so nothing else would work), one of them a
// signed request object (JAR, RFC 9101) and one with a signed response (JARM), with their ID
// tokens; a DPoP-bound token (RFC 9449) used at a hub API, on a hub that requires DPoP
// nonces (openid-client answers use_dpop_nonce by itself); and the logout URL openid-client
// builds (OpenID Connect RP-Initiated Logout 1.0), which ends the session.
//
// Environment: KEYWAY_HUB_URL, KEYWAY_CLIENT_ID, KEYWAY_PRIVATE_JWK (the client's Ed25519
// private key as a JWK, with "kid"), KEYWAY_REDIRECT_URI, KEYWAY_USERNAME, KEYWAY_PASSWORD,
// KEYWAY_POST_LOGOUT_URI (registered for the client).
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

// The cookies of the last sign-in, for the logout at the end.
let lastJar = new Map();
const cookieHeader = (jar) => [...jar].map(([name, value]) => `${name}=${value}`).join('; ');

// The browser's part of a code flow, as a browser does it: the login form, then Allow.
async function signInAndAllow(url, username, password) {
  const jar = new Map();
  lastJar = jar;
  const remember = (response) => {
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const at = pair.indexOf('=');
      jar.set(pair.slice(0, at), pair.slice(at + 1));
    }
  };
  const cookies = () => cookieHeader(jar);
  const field = (html, name) => {
    const found = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
    check(found, `no ${name} field in:\n${html}`);
    return found[1];
  };
  const post = (path, form) => fetch(new URL(path, hub), {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: cookies(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
  let response = await fetch(url, { redirect: 'manual' });
  check(response.status === 200, `authorize answered ${response.status}`);
  remember(response);
  let html = await response.text();
  response = await post('/oauth2/login', {
    request_id: field(html, 'request_id'), csrf: field(html, 'csrf'), username, password,
  });
  remember(response);
  if (response.status === 303) {
    return response.headers.get('location'); // consent given before: straight back
  }
  html = await response.text();
  response = await post('/oauth2/consent', {
    request_id: field(html, 'request_id'), csrf: field(html, 'csrf'), decision: 'allow',
  });
  check(response.status === 303, `consent answered ${response.status}`);
  return response.headers.get('location');
}

const codeConfig = await client.discovery(
  new URL(hub),
  clientId,
  { id_token_signed_response_alg: 'EdDSA' },
  client.PrivateKeyJwt({ key, kid: jwk.kid }),
  { execute: [client.allowInsecureRequests] },
);
const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const pushedUrl = await client.buildAuthorizationUrlWithPAR(codeConfig, {
  redirect_uri: env('KEYWAY_REDIRECT_URI'),
  scope: 'openid read',
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  state,
  nonce,
});
const requestUri = pushedUrl.searchParams.get('request_uri') ?? '';
check(requestUri.startsWith('urn:ietf:params:oauth:request_uri:'), `request_uri ${requestUri}`);
check(!pushedUrl.searchParams.has('code_challenge'), 'the request went through the browser');
console.log('  - pushed authorization request');
const landing = await signInAndAllow(pushedUrl, env('KEYWAY_USERNAME'), env('KEYWAY_PASSWORD'));
const codeTokens = await client.authorizationCodeGrant(codeConfig, new URL(landing), {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const claims = codeTokens.claims();
check(claims?.aud === clientId && claims?.nonce === nonce, `ID token: ${JSON.stringify(claims)}`);
console.log('  - code flow through PAR, ID token verified');

// A signed request object (JAR, RFC 9101) with the client's Ed25519 key, pushed (RFC 9126).
const jarVerifier = client.randomPKCECodeVerifier();
const jarState = client.randomState();
const jarUrl = await client.buildAuthorizationUrlWithJAR(codeConfig, {
  redirect_uri: env('KEYWAY_REDIRECT_URI'),
  scope: 'openid read',
  code_challenge: await client.calculatePKCECodeChallenge(jarVerifier),
  code_challenge_method: 'S256',
  state: jarState,
}, { key, kid: jwk.kid });
check(jarUrl.searchParams.has('request'), 'no request object');
const pushedJar = await client.buildAuthorizationUrlWithPAR(codeConfig, jarUrl.searchParams);
const jarLanding = await signInAndAllow(pushedJar, env('KEYWAY_USERNAME'), env('KEYWAY_PASSWORD'));
const jarTokens = await client.authorizationCodeGrant(codeConfig, new URL(jarLanding), {
  pkceCodeVerifier: jarVerifier,
  expectedState: jarState,
  idTokenExpected: true,
});
check(jarTokens.claims()?.aud === clientId, 'no ID token for the JAR flow');
console.log('  - code flow with a signed request object inside PAR');

// The response signed by the hub (JARM, response_mode=jwt), verified by openid-client.
const jarmConfig = await client.discovery(
  new URL(hub),
  clientId,
  { id_token_signed_response_alg: 'EdDSA', authorization_signed_response_alg: 'EdDSA' },
  client.PrivateKeyJwt({ key, kid: jwk.kid }),
  { execute: [client.allowInsecureRequests, client.useJwtResponseMode] },
);
const jarmVerifier = client.randomPKCECodeVerifier();
const jarmState = client.randomState();
const jarmUrl = await client.buildAuthorizationUrlWithPAR(jarmConfig, {
  redirect_uri: env('KEYWAY_REDIRECT_URI'),
  scope: 'openid read',
  code_challenge: await client.calculatePKCECodeChallenge(jarmVerifier),
  code_challenge_method: 'S256',
  state: jarmState,
});
const jarmLanding = new URL(
  await signInAndAllow(jarmUrl, env('KEYWAY_USERNAME'), env('KEYWAY_PASSWORD')),
);
check(jarmLanding.searchParams.has('response') && !jarmLanding.searchParams.has('code'),
  `not a JARM response: ${jarmLanding}`);
const jarmTokens = await client.authorizationCodeGrant(jarmConfig, jarmLanding, {
  pkceCodeVerifier: jarmVerifier,
  expectedState: jarmState,
  idTokenExpected: true,
});
check(jarmTokens.claims()?.aud === clientId, 'no ID token for the JARM flow');
console.log('  - code flow with a signed response (JARM)');

// DPoP (RFC 9449): a token bound to a key of the client's, then used at a hub API.
const dpopKeys = await client.randomDPoPKeyPair('Ed25519');
const dpop = client.getDPoPHandle(config, dpopKeys);
const bound = await client.clientCredentialsGrant(config, { scope: 'link:read' }, { DPoP: dpop });
check(bound.token_type.toLowerCase() === 'dpop', `token_type ${bound.token_type}`);
const stats = await client.fetchProtectedResource(
  config, bound.access_token, new URL('/link/v1/stats', hub), 'GET', undefined, undefined,
  { DPoP: dpop },
);
check(stats.status === 200, `DPoP call to /link/v1/stats answered ${stats.status}`);
// The hub requires DPoP nonces: openid-client learnt one from a use_dpop_nonce answer and
// retried; a proof without one is refused with the nonce to use.
const bare = await fetch(new URL('/oauth2/token', hub), { method: 'POST' });
check(bare.headers.get('dpop-nonce'), 'the token endpoint offers no DPoP-Nonce');
const asBearer = await fetch(new URL('/link/v1/stats', hub), {
  headers: { authorization: `Bearer ${bound.access_token}` },
});
check(asBearer.status === 401, `a bound token used as Bearer answered ${asBearer.status}`);
console.log('  - DPoP-bound token used at a hub API (refused as Bearer)');
// RP-Initiated Logout 1.0: openid-client builds the end-session URL from discovery, with the
// ID token of the browser's session; the hub ends the session and returns with the state.
const afterLogout = env('KEYWAY_POST_LOGOUT_URI');
const endSession = client.buildEndSessionUrl(jarmConfig, {
  id_token_hint: jarmTokens.id_token,
  post_logout_redirect_uri: afterLogout,
  state: 'bye-1',
});
check(endSession.href.startsWith(`${hub}/oauth2/logout?`), `end-session URL ${endSession}`);
const signedIn = cookieHeader(lastJar);
const out = await fetch(endSession, { redirect: 'manual', headers: { cookie: signedIn } });
check(out.status === 303, `the end-session endpoint answered ${out.status}: ${await out.text()}`);
check(out.headers.get('location') === `${afterLogout}?state=bye-1`,
  `sent to ${out.headers.get('location')}`);
// The cookie the browser held no longer signs anyone in: prompt=none wants a login.
const silentVerifier = client.randomPKCECodeVerifier();
const silent = await client.buildAuthorizationUrlWithPAR(codeConfig, {
  redirect_uri: env('KEYWAY_REDIRECT_URI'),
  scope: 'openid read',
  code_challenge: await client.calculatePKCECodeChallenge(silentVerifier),
  code_challenge_method: 'S256',
  prompt: 'none',
});
const again = await fetch(silent, { redirect: 'manual', headers: { cookie: signedIn } });
const answer = new URL(again.headers.get('location') ?? 'http://none/');
check(answer.searchParams.get('error') === 'login_required',
  `after logout, prompt=none answered ${again.status} ${answer}`);
console.log('  - logout through the end-session URL openid-client builds');
console.log('openid-client: ok');
