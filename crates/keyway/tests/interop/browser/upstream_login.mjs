// A person signs in to a client of keyway hub A through an upstream OpenID Connect provider,
// in headless Chromium (the system browser, through playwright-core):
//   1. `type=<upstream>` on the authorization request goes straight to the provider; the
//      person signs in there (and consents there), comes back to hub A's consent page, allows,
//      and the client's callback gets a code whose ID token says amr ["fed"], idp <upstream>;
//   2. in a fresh browser, hub A's login page offers the provider as a button, which works too.
// The provider is another keyway hub (KEYWAY_UPSTREAM_KIND=keyway) or node oidc-provider
// (KEYWAY_UPSTREAM_KIND=oidc-provider, its development login and consent pages).
// Screenshots go to $KEYWAY_ARTIFACTS.
//
// Environment: KEYWAY_HUB_URL (hub A), KEYWAY_CLIENT_ID (a public client of A),
// KEYWAY_REDIRECT_URI, KEYWAY_UPSTREAM (the login type's name), KEYWAY_UPSTREAM_URL,
// KEYWAY_UPSTREAM_KIND, KEYWAY_USERNAME and KEYWAY_PASSWORD (at the provider),
// KEYWAY_ARTIFACTS (default ./artifacts), KEYWAY_CHROMIUM (default /usr/bin/chromium).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { check, codeFlow, env, step } from './common.mjs';

const hub = env('KEYWAY_HUB_URL').replace(/\/$/, '');
const clientId = env('KEYWAY_CLIENT_ID');
const redirectUri = env('KEYWAY_REDIRECT_URI');
const flow = codeFlow({ hub, clientId, redirectUri });
const upstream = env('KEYWAY_UPSTREAM');
const upstreamUrl = env('KEYWAY_UPSTREAM_URL').replace(/\/$/, '');
const kind = env('KEYWAY_UPSTREAM_KIND', 'keyway');
const username = env('KEYWAY_USERNAME');
const password = env('KEYWAY_PASSWORD');
const artifacts = env('KEYWAY_ARTIFACTS', 'artifacts');
const executablePath = env('KEYWAY_CHROMIUM', '/usr/bin/chromium');
const TIMEOUT_MS = 20_000;

// Both servers may be on 127.0.0.1: compare origins, not string prefixes (ports).
const sameOrigin = (url, base) => new URL(url).origin === new URL(base).origin;

async function freshPage(browser) {
  const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  context.setDefaultTimeout(TIMEOUT_MS);
  return { context, page: await context.newPage() };
}

// Signs in at the provider (and consents there when it asks) until `left` resolves: the
// browser is back at hub A, or at the client's redirect URI.
async function atProvider(page, shot, left) {
  await page.waitForURL((url) => sameOrigin(url, upstreamUrl));
  await page.screenshot({ path: join(artifacts, `${shot}-provider-login.png`), fullPage: true });
  const [user, pass, consent] = kind === 'keyway'
    ? ['#username', '#password', 'button[name=decision][value=allow]']
    : ['input[name=login]', 'input[name=password]', 'button[type=submit]:has-text("Continue")'];
  await page.fill(user, username);
  await page.fill(pass, password);
  await page.click('button[type=submit]');
  let gone = false;
  const back = left.then(() => { gone = true; });
  // The provider may ask for consent (first time) or not (remembered).
  const consentStep = (async () => {
    await page.waitForURL((url) => sameOrigin(url, upstreamUrl) && !gone);
    const button = page.locator(consent);
    await button.waitFor();
    if (!gone && sameOrigin(new URL(page.url()), upstreamUrl)) {
      await page.screenshot({ path: join(artifacts, `${shot}-provider-consent.png`), fullPage: true });
      await button.click();
    }
  })().catch(() => {});
  await Promise.race([back, consentStep.then(() => back)]);
  step(`signed in at the provider (${kind}), back from it`);
}

// At hub A after the provider: allow on the consent page (if asked), then the client's code.
async function finishAtHub(page, request, shot) {
  const allow = page.locator('button[name=decision][value=allow]');
  let url;
  if (page.url().startsWith(redirectUri)) {
    url = new URL(page.url());
  } else {
    await allow.waitFor();
    await page.screenshot({ path: join(artifacts, `${shot}-hub-consent.png`), fullPage: true });
    url = await flow.callbackOf(page, () => allow.click());
  }
  check(url.searchParams.get('state') === request.state, `state in ${url}`);
  const code = url.searchParams.get('code');
  check(code, `no code in ${url}`);
  const token = await fetch(`${hub}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      client_id: clientId,
      code_verifier: request.verifier,
    }),
  });
  const body = await token.json();
  check(token.status === 200 && body.id_token, `token endpoint: ${token.status} ${JSON.stringify(body)}`);
  const claims = JSON.parse(Buffer.from(body.id_token.split('.')[1], 'base64url').toString());
  check(JSON.stringify(claims.amr) === '["fed"]', `amr ${JSON.stringify(claims.amr)}`);
  check(claims.idp === upstream, `idp ${claims.idp}`);
  step(`ID token: sub ${claims.sub}, preferred_username ${claims.preferred_username}, amr fed, idp ${claims.idp}`);
  return claims;
}

async function directPath(browser) {
  const { context, page } = await freshPage(browser);
  const request = flow.request('openid', { type: upstream });
  await page.goto(request.url);
  await atProvider(page, 'type', page.waitForURL((url) => sameOrigin(url, hub)));
  const claims = await finishAtHub(page, request, 'type');
  await context.close();
  return claims;
}

async function loginPagePath(browser, first) {
  const { context, page } = await freshPage(browser);
  const request = flow.request('openid');
  await page.goto(request.url);
  const button = page.locator(`#upstream-${upstream}`);
  await button.waitFor();
  check((await page.locator('#password').count()) === 1, 'the login page should offer a password too');
  await page.screenshot({ path: join(artifacts, 'login-page-with-upstream.png'), fullPage: true });
  step(`hub A's login page offers "${(await button.textContent()).trim()}"`);
  const callback = page.waitForRequest((r) => r.url().startsWith(redirectUri));
  await button.click();
  await atProvider(page, 'button', callback);
  // Consent at hub A is remembered from the first path: straight to the client.
  const url = new URL((await callback).url());
  check(url.searchParams.get('state') === request.state, `state in ${url}`);
  check(url.searchParams.get('code'), `no code in ${url}`);
  step(`the same person again (sub ${first.sub}): straight back to the client`);
  await context.close();
}

async function main() {
  mkdirSync(artifacts, { recursive: true });
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    step(`chromium ${browser.version()}`);
    const claims = await directPath(browser);
    await loginPagePath(browser, claims);
  } finally {
    await browser.close();
  }
  console.log(`OK (upstream_login.mjs, ${kind}): screenshots in ${artifacts}`);
}

main().catch((error) => {
  console.error(`FAIL (upstream_login.mjs): ${error.stack || error}`);
  process.exit(1);
});
