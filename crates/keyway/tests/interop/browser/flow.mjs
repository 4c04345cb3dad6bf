// Drives keyway's login and consent pages in headless Chromium (the system browser, through
// playwright-core), for a public client with PKCE:
//   1. sign in, Deny: the callback gets error=access_denied, state and iss;
//   2. a fresh browser: a wrong password shows an error; sign in, Allow: the callback gets
//   code, state and iss, and the code redeems at the token endpoint; a second request skips
//   both pages; prompt=consent asks again.
// Screenshots of the login and consent pages go to $KEYWAY_ARTIFACTS.
//
// Environment: KEYWAY_HUB_URL, KEYWAY_CLIENT_ID, KEYWAY_REDIRECT_URI, KEYWAY_USERNAME,
// KEYWAY_PASSWORD, KEYWAY_SCOPE (default "openid"), KEYWAY_ISSUER (default the hub URL),
// KEYWAY_ARTIFACTS (default ./artifacts), KEYWAY_CHROMIUM (default /usr/bin/chromium).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { check, codeFlow, env, step } from './common.mjs';

const hub = env('KEYWAY_HUB_URL').replace(/\/$/, '');
const issuer = env('KEYWAY_ISSUER', hub).replace(/\/$/, '');
const clientId = env('KEYWAY_CLIENT_ID');
const redirectUri = env('KEYWAY_REDIRECT_URI');
const flow = codeFlow({ hub, clientId, redirectUri });
const username = env('KEYWAY_USERNAME');
const password = env('KEYWAY_PASSWORD');
const scope = env('KEYWAY_SCOPE', 'openid');
const artifacts = env('KEYWAY_ARTIFACTS', 'artifacts');
const executablePath = env('KEYWAY_CHROMIUM', '/usr/bin/chromium');
const TIMEOUT_MS = 20_000;

// A fresh browser context (no cookies) with one page.
async function freshPage(browser) {
  const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  context.setDefaultTimeout(TIMEOUT_MS);
  return { context, page: await context.newPage() };
}

async function signIn(page, user, pass) {
  await page.fill('#username', user);
  await page.fill('#password', pass);
  await page.click('button[type=submit]');
}

function checkRedirect(url, state) {
  check(url.searchParams.get('state') === state, `state ${url.searchParams.get('state')} != ${state}`);
  check(url.searchParams.get('iss') === issuer, `iss ${url.searchParams.get('iss')} != ${issuer}`);
}

async function allowPath(browser) {
  const { context, page } = await freshPage(browser);
  const request = flow.request(scope);
  const response = await page.goto(request.url);
  check(response.status() === 200, `authorize answered ${response.status()}`);
  check((await page.title()).includes('Sign in'), `login page title: ${await page.title()}`);
  await page.screenshot({ path: join(artifacts, 'login.png'), fullPage: true });

  await signIn(page, username, 'definitely the wrong password');
  await page.waitForSelector('#login-error');
  const message = await page.textContent('#login-error');
  check(/incorrect/i.test(message), `wrong-password message: ${message}`);
  check(await page.inputValue('#username') === username, 'the username should be kept after a failed sign-in');
  await page.screenshot({ path: join(artifacts, 'login-error.png'), fullPage: true });
  step(`wrong password: "${message.trim()}"`);

  await signIn(page, username, password);
  const allow = page.locator('button[name=decision][value=allow]');
  await allow.waitFor();
  const heading = await page.textContent('h1');
  check(heading.includes('Allow'), `consent heading: ${heading}`);
  for (const s of scope.split(' ')) {
    check((await page.textContent('main')).includes(s), `consent page does not list scope ${s}`);
  }
  await page.screenshot({ path: join(artifacts, 'consent.png'), fullPage: true });
  step(`consent page: "${heading.trim()}"`);

  const url = await flow.callbackOf(page, () => allow.click());
  checkRedirect(url, request.state);
  const code = url.searchParams.get('code');
  check(code, `no code in ${url}`);
  check(!url.searchParams.has('error'), `error in ${url}`);
  step('Allow: callback has code, state and iss');

  // The public client redeems the code with its PKCE verifier (no secret).
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
  check(token.status === 200 && body.access_token, `token endpoint: ${token.status} ${JSON.stringify(body)}`);
  step(`code redeemed: ${Object.keys(body).sort().join(', ')}`);

  // Signed in and consented: a second request goes straight back to the callback. Each later
  // step uses a new tab of the same browser (same cookies): the old one is still busy with
  // the failed load of the callback, and a navigation there could be cut short by it.
  const again = flow.request(scope);
  const silent = await context.newPage();
  const second = await flow.callbackOf(silent, () => silent.goto(again.url));
  checkRedirect(second, again.state);
  check(second.searchParams.get('code'), `no code on the silent second authorization: ${second}`);
  step('second authorization skips login and consent');

  // With a login session, prompt=consent shows the consent page again.
  const tab = await context.newPage();
  const forced = flow.request(scope, { prompt: 'consent' });
  await tab.goto(forced.url);
  const allowAgain = tab.locator('button[name=decision][value=allow]');
  await allowAgain.waitFor();
  const third = await flow.callbackOf(tab, () => allowAgain.click());
  checkRedirect(third, forced.state);
  check(third.searchParams.get('code'), `no code after prompt=consent: ${third}`);
  step('prompt=consent with a session asks again');
  await context.close();
}

async function denyPath(browser) {
  // Runs first: a consent given on the Allow path would skip the consent page.
  const { context, page } = await freshPage(browser);
  const request = flow.request(scope);
  await page.goto(request.url);
  await signIn(page, username, password);
  const deny = page.locator('button[name=decision][value=deny]');
  await deny.waitFor();
  const url = await flow.callbackOf(page, () => deny.click());
  checkRedirect(url, request.state);
  check(url.searchParams.get('error') === 'access_denied', `deny gave ${url}`);
  check(!url.searchParams.has('code'), `deny still carried a code: ${url}`);
  step('Deny: callback has error=access_denied, state and iss');
  await context.close();
}

async function main() {
  mkdirSync(artifacts, { recursive: true });
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    step(`chromium ${browser.version()}`);
    await denyPath(browser);
    await allowPath(browser);
  } finally {
    await browser.close();
  }
  console.log(`OK (flow.mjs): screenshots in ${artifacts}`);
}

main().catch((error) => {
  console.error(`FAIL (flow.mjs): ${error.stack || error}`);
  process.exit(1);
});
