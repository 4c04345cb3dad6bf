// A person with a TOTP second factor signs in through keyway's pages in headless Chromium (the
// system browser, through playwright-core). The code is computed here from the otpauth:// URI
// that `keyway user totp enroll` printed, as an authenticator app does (RFC 6238 with Node's
// HMAC-SHA1: an implementation independent of the hub's):
//   1. the login page, then the code page; a wrong code is refused on the same page;
//   2. the right code leads to consent, Allow, a code that redeems to an ID token whose amr
//      names both factors;
//   3. a fresh browser signs in with a recovery code instead.
// Screenshots of each page go to $KEYWAY_ARTIFACTS.
//
// Environment: KEYWAY_HUB_URL, KEYWAY_CLIENT_ID (a public client), KEYWAY_REDIRECT_URI,
// KEYWAY_USERNAME, KEYWAY_PASSWORD, KEYWAY_TOTP_URI, KEYWAY_RECOVERY_CODE, KEYWAY_ARTIFACTS,
// KEYWAY_CHROMIUM (default /usr/bin/chromium).
import { createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { check, codeFlow, env, launch, step } from './common.mjs';

const hub = env('KEYWAY_HUB_URL').replace(/\/$/, '');
const username = env('KEYWAY_USERNAME');
const password = env('KEYWAY_PASSWORD');
const otpauth = new URL(env('KEYWAY_TOTP_URI'));
const recoveryCode = env('KEYWAY_RECOVERY_CODE');
const artifacts = env('KEYWAY_ARTIFACTS', 'artifacts');
const flow = codeFlow({
  hub,
  clientId: env('KEYWAY_CLIENT_ID'),
  redirectUri: env('KEYWAY_REDIRECT_URI'),
});

// RFC 4648 base32 to bytes.
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/=+$/, '')) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

// RFC 6238 / RFC 4226: the code for the current 30-second step.
function totpNow() {
  check(otpauth.protocol === 'otpauth:' && otpauth.host === 'totp', `not a TOTP URI: ${otpauth}`);
  check(otpauth.searchParams.get('algorithm') === 'SHA1', 'algorithm');
  const digits = Number(otpauth.searchParams.get('digits'));
  const period = Number(otpauth.searchParams.get('period'));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / period)));
  const mac = createHmac('sha1', base32(otpauth.searchParams.get('secret'))).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

async function passwordThenCodePage(page, request, shots) {
  await page.goto(request.url);
  if (shots) {
    await page.screenshot({ path: join(artifacts, 'totp-login.png'), fullPage: true });
  }
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  await page.waitForSelector('#code');
  check((await page.textContent('h1')).includes('Enter your code'), 'no code page');
}

async function main() {
  mkdirSync(artifacts, { recursive: true });
  const browser = await launch();
  try {
    const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
    context.setDefaultTimeout(20_000);
    const page = await context.newPage();
    const request = flow.request('openid');
    await passwordThenCodePage(page, request, true);
    await page.screenshot({ path: join(artifacts, 'totp-code.png'), fullPage: true });
    step('password accepted: the code page, no session yet');

    await page.fill('#code', '000000');
    await page.click('button[type=submit]');
    await page.waitForSelector('#code-error');
    await page.screenshot({ path: join(artifacts, 'totp-code-error.png'), fullPage: true });
    step(`wrong code: "${(await page.textContent('#code-error')).trim()}"`);

    await page.fill('#code', totpNow());
    await page.click('button[type=submit]');
    const allow = page.locator('button[name=decision][value=allow]');
    await allow.waitFor();
    await page.screenshot({ path: join(artifacts, 'totp-consent.png'), fullPage: true });
    const { claims } = await flow.redeem(await flow.callbackOf(page, () => allow.click()), request);
    check(JSON.stringify(claims.amr) === '["pwd","otp","mfa"]', `amr ${JSON.stringify(claims.amr)}`);
    step(`right code: consent, code redeemed, amr ${JSON.stringify(claims.amr)}`);
    await context.close();

    const other = await browser.newContext();
    other.setDefaultTimeout(20_000);
    const tab = await other.newPage();
    const again = flow.request('openid');
    await passwordThenCodePage(tab, again, false);
    await tab.fill('#code', recoveryCode);
    const back = await flow.callbackOf(tab, () => tab.click('button[type=submit]'));
    check(back.searchParams.get('code'), `no code after the recovery code: ${back}`);
    step('a recovery code instead of a code (consent remembered: straight back)');
    await other.close();
  } finally {
    await browser.close();
  }
  console.log(`OK (totp_login.mjs): screenshots in ${artifacts}`);
}

main().catch((error) => {
  console.error(`FAIL (totp_login.mjs): ${error.stack || error}`);
  process.exit(1);
});
