// Passkeys in headless Chromium (the system browser, through playwright-core) with a virtual
// authenticator (Chrome DevTools Protocol WebAuthn domain: a CTAP2 platform authenticator
// that keeps discoverable credentials and verifies the user). The person was provisioned by
// SCIM into a group that holds contact.read; the client may ask for contact.read and
// contact.write:
//   1. sign in at the hub with the password, add a passkey at /account/passkeys (the first
//      second factor: every session ends);
//   2. sign in to the client with the passkey alone: consent shows contact.read and says
//      contact.write is withheld; the token carries exactly "openid contact.read", the ID token
//      amr ["hwk","mfa"];
//   3. sign in again with the password, then the passkey (the second step): amr
//      ["pwd","hwk","mfa"];
//   4. RP-initiated logout with that ID token: the session ends, and so does the refresh
//      token it gave (no offline_access);
//   5. the session of step 2 lives on (its cookie was cleared, as on another device): signed
//      in again with the passkey, "Sign out everywhere" on the hub's page ends it too, and
//      step 2's refresh token with it.
// Screenshots of each page go to $KEYWAY_ARTIFACTS.
//
// Environment: KEYWAY_HUB_URL (under localhost: browsers refuse IP addresses as RP IDs),
// KEYWAY_CLIENT_ID (a public client), KEYWAY_REDIRECT_URI, KEYWAY_USERNAME, KEYWAY_PASSWORD,
// KEYWAY_ARTIFACTS, KEYWAY_CHROMIUM (default /usr/bin/chromium).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { check, codeFlow, env, launch, step } from './common.mjs';

const hub = env('KEYWAY_HUB_URL').replace(/\/$/, '');
const username = env('KEYWAY_USERNAME');
const password = env('KEYWAY_PASSWORD');
const artifacts = env('KEYWAY_ARTIFACTS', 'artifacts');
const SCOPE = 'openid contact.read contact.write';
const flow = codeFlow({
  hub,
  clientId: env('KEYWAY_CLIENT_ID'),
  redirectUri: env('KEYWAY_REDIRECT_URI'),
});
const shot = (page, name) => page.screenshot({ path: join(artifacts, name), fullPage: true });

async function main() {
  mkdirSync(artifacts, { recursive: true });
  const browser = await launch();
  try {
    const context = await browser.newContext({ viewport: { width: 900, height: 760 } });
    context.setDefaultTimeout(20_000);
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });

    // 1. Password, then the account page: add a passkey.
    await page.goto(`${hub}/login?next=/account/passkeys`);
    await page.fill('#username', username);
    await page.fill('#password', password);
    await page.click('button[type=submit].primary');
    await page.waitForSelector('#no-passkeys');
    await shot(page, 'passkey-account.png');
    await page.fill('#name', 'Chromium virtual authenticator');
    await page.click('#passkey-button');
    await page.waitForSelector('#passkey-notice');
    const notice = (await page.textContent('#passkey-notice')).trim();
    check(notice.includes('added') && notice.includes('signed out everywhere'), notice);
    await shot(page, 'passkey-added.png');
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    check(credentials.length === 1, `credentials: ${JSON.stringify(credentials)}`);
    check(credentials[0].isResidentCredential, 'the passkey is discoverable');
    check(credentials[0].rpId === new URL(hub).hostname, `RP ID ${credentials[0].rpId}`);
    step(`passkey added (${notice}); RP ID ${credentials[0].rpId}, discoverable`);

    // 2. The passkey alone, no username typed.
    const first = flow.request(SCOPE);
    await page.goto(first.url);
    await page.waitForSelector('#passkey-button');
    await shot(page, 'passkey-login.png');
    await page.click('#passkey-button');
    const allow = page.locator('button[name=decision][value=allow]');
    await allow.waitFor();
    const consent = await page.textContent('main');
    check(consent.includes('contact.read'), `consent lists contact.read: ${consent}`);
    const withheld = await page.textContent('#withheld');
    check(withheld.includes('contact.write'), `consent says contact.write is withheld: ${withheld}`);
    await shot(page, 'passkey-consent.png');
    const granted = await flow.redeem(await flow.callbackOf(page, () => allow.click()), first);
    const scopes = granted.tokens.scope.split(' ').sort().join(' ');
    check(scopes === 'contact.read openid', `exactly the group's scope: ${granted.tokens.scope}`);
    check(JSON.stringify(granted.claims.amr) === '["hwk","mfa"]', `amr ${granted.claims.amr}`);
    step(`passwordless: scope "${granted.tokens.scope}", amr ${JSON.stringify(granted.claims.amr)}`);

    // 3. The password, then the passkey as the second step (consent is remembered).
    await context.clearCookies();
    const second = flow.request(SCOPE);
    await page.goto(second.url);
    await page.fill('#username', username);
    await page.fill('#password', password);
    await page.click('button[type=submit].primary');
    await page.waitForSelector('#passkey-button');
    check((await page.textContent('h1')).includes('Use your passkey'), 'the passkey step');
    await shot(page, 'passkey-second-step.png');
    const both = await flow.redeem(await flow.callbackOf(page, () => page.click('#passkey-button')), second);
    check(JSON.stringify(both.claims.amr) === '["pwd","hwk","mfa"]', `amr ${both.claims.amr}`);
    step(`password + passkey: amr ${JSON.stringify(both.claims.amr)}`);

    // 4. Logout at the hub, as the client asks (OpenID Connect RP-Initiated Logout).
    const logout = new URL(`${hub}/oauth2/logout`);
    logout.searchParams.set('id_token_hint', both.tokens.id_token);
    const tab = await context.newPage();
    await tab.goto(logout.toString());
    await tab.waitForSelector('#signed-out');
    await shot(tab, 'passkey-logged-out.png');
    const refresh = await flow.token({
      grant_type: 'refresh_token',
      refresh_token: both.tokens.refresh_token,
    });
    check(refresh.status === 400 && refresh.body.error === 'invalid_grant', JSON.stringify(refresh));
    step('RP-initiated logout: this session and its refresh token ended');

    // 5. Every session, from the hub's own page.
    const stillAlive = await flow.token({
      grant_type: 'refresh_token',
      refresh_token: granted.tokens.refresh_token,
    });
    check(stillAlive.status === 200, `step 2's session lives on: ${JSON.stringify(stillAlive)}`);
    // The first tab: the virtual authenticator belongs to it.
    await page.goto(`${hub}/login?next=/`);
    await page.click('#passkey-button');
    await page.waitForSelector('#sign-out-everywhere');
    await shot(tab, 'passkey-home.png');
    await page.click('#sign-out-everywhere');
    await page.waitForSelector('#session >> text=Not signed in');
    const afterAll = await flow.token({
      grant_type: 'refresh_token',
      refresh_token: stillAlive.body.refresh_token,
    });
    check(afterAll.status === 400 && afterAll.body.error === 'invalid_grant', JSON.stringify(afterAll));
    step('signed out everywhere: the other session and its refresh token ended too');
    await context.close();
  } finally {
    await browser.close();
  }
  console.log(`OK (passkey_walk.mjs): screenshots in ${artifacts}`);
}

main().catch((error) => {
  console.error(`FAIL (passkey_walk.mjs): ${error.stack || error}`);
  process.exit(1);
});
