// What the browser scripts share: the environment, checks, and the authorization code flow's
// browser side (a PKCE request, a callback page that answers, catching the redirect to it, and
// redeeming the code as a public client).
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';

export function env(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') {
    throw new Error(`set ${name}`);
  }
  return value;
}

export function check(condition, message) {
  if (!condition) {
    throw new Error(message);
  }
}

export const step = (message) => console.log(`  - ${message}`);
export const b64url = (bytes) => bytes.toString('base64url');

// The system Chromium, headless.
export function launch() {
  return chromium.launch({
    executablePath: env('KEYWAY_CHROMIUM', '/usr/bin/chromium'),
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
}

// A code flow for a public client: `request(scope, extra)` makes an authorization URL with
// PKCE, state, nonce and any `extra` parameters; `callbackOf` gives the URL of the redirect an action causes; `redeem` exchanges its
// code and returns the tokens and the ID token's claims.
export function codeFlow({ hub, clientId, redirectUri }) {
  serveCallback(redirectUri);

  function request(scope, extra = {}) {
    const verifier = b64url(randomBytes(48));
    const state = b64url(randomBytes(16));
    const url = new URL(`${hub}/oauth2/authorize`);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirectUri,
      scope,
      state,
      nonce: b64url(randomBytes(16)),
      code_challenge: b64url(createHash('sha256').update(verifier).digest()),
      code_challenge_method: 'S256',
      ...extra,
    }).toString();
    return { url: url.toString(), verifier, state };
  }

  // Returns once the callback page has loaded: a navigation still under way would interrupt
  // the script's next `goto` in this tab.
  async function callbackOf(page, action) {
    const seen = page.waitForRequest((r) => r.url().startsWith(redirectUri));
    const done = action().catch((error) => error);
    const url = new URL((await seen).url());
    const outcome = await done;
    if (outcome instanceof Error && !/ERR_ABORTED/.test(outcome.message)) {
      throw outcome;
    }
    await page.waitForURL((current) => current.href.startsWith(redirectUri), { waitUntil: 'load' });
    return url;
  }

  async function token(fields) {
    const response = await fetch(`${hub}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: clientId, ...fields }),
    });
    return { status: response.status, body: await response.json() };
  }

  async function redeem(url, sent) {
    check(url.searchParams.get('state') === sent.state, `state in ${url}`);
    const { status, body } = await token({
      grant_type: 'authorization_code',
      code: url.searchParams.get('code'),
      redirect_uri: redirectUri,
      code_verifier: sent.verifier,
    });
    check(status === 200 && body.id_token, `token endpoint: ${JSON.stringify(body)}`);
    const claims = JSON.parse(Buffer.from(body.id_token.split('.')[1], 'base64url'));
    return { tokens: body, claims };
  }

  return { request, callbackOf, token, redeem };
}

// The client's callback, served on its loopback port so that the browser lands on a page that
// loads (an unreachable one leaves Chromium settling on an error page, which interrupts the next
// navigation at random). `unref` lets the script exit without closing it.
function serveCallback(redirectUri) {
  const callback = new URL(redirectUri);
  if (callback.protocol !== 'http:' || callback.hostname !== '127.0.0.1') {
    return;
  }
  const server = createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end('<!doctype html><title>callback</title><p>The client would redeem the code here.');
  });
  server.listen(Number(callback.port), '127.0.0.1');
  server.unref();
}
