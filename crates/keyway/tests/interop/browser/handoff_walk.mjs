// Issue 18's walk with the sample apps of examples/handoff: alice signs in at app A, follows
// "Open my orders in app B" and lands in B signed in with A's data; A asks B's API who she
// is through the hub's gateway; bob, signed in at the hub, gets the error page for a link
// made for alice; and a handover URL carried to bob's browser is refused by B's check.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { check, env, launch, step } from './common.mjs';

const hub = env('KEYWAY_HUB_URL').replace(/\/$/, '');
const appA = env('HANDOFF_A_URL');
const appB = env('HANDOFF_B_URL');
const aId = env('HANDOFF_A_ID');
const password = env('KEYWAY_PASSWORD');
const artifacts = env('KEYWAY_ARTIFACTS', 'artifacts');
const shot = (page, name) => page.screenshot({ path: join(artifacts, name), fullPage: true });

async function signInAtHub(page, user) {
  await page.fill('#username', user);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
}

async function allowIfAsked(page) {
  const allow = page.locator('button[name=decision][value=allow]');
  if (await allow.count()) {
    await allow.click();
  }
}

// The Location of a request made with the page's cookies, not followed: `method` on `url`.
async function locationOf(page, method, url) {
  const response = await page.context().request.fetch(url, { method, maxRedirects: 0 });
  const location = response.headers()['location'];
  check(location, `${method} ${url}: HTTP ${response.status()} without a Location`);
  return new URL(location, url).toString();
}

async function main() {
  mkdirSync(artifacts, { recursive: true });
  const browser = await launch();
  try {
    const alice = await (await browser.newContext({ viewport: { width: 900, height: 700 } })).newPage();
    alice.context().setDefaultTimeout(20_000);

    // 1. alice signs in at A, through the hub.
    await alice.goto(appA);
    await alice.click('#login');
    await signInAtHub(alice, 'alice');
    await allowIfAsked(alice);
    await alice.waitForURL(`${appA}/`);
    check((await alice.textContent('#user')) === 'alice', 'A: not signed in as alice');
    await shot(alice, 'handoff-a-home.png');
    step('alice is signed in at app A');

    // 2. "Open my orders in app B": consent for B at the hub, then B, signed in, with A's data.
    await alice.click('#open-in-b');
    await alice.locator('button[name=decision][value=allow]').waitFor();
    const consent = await alice.textContent('main');
    check(consent.includes('Shop is sending you on to Orders'), `consent for B: ${consent}`);
    await shot(alice, 'handoff-consent.png');
    await allowIfAsked(alice);
    await alice.waitForURL(`${appB}/`);
    check((await alice.textContent('#user')) === 'alice', 'B: not signed in as alice');
    check((await alice.textContent('#from')) === aId, `B: handed over from ${await alice.textContent('#from')}`);
    check((await alice.textContent('#fun')) === 'orders:open', 'B: transmit_fun');
    check((await alice.textContent('#data')) === '{"cart":"42"}', 'B: transmit_data');
    check((await alice.textContent('body')).includes('(password)'), 'B: login type');
    await shot(alice, 'handoff-b-home.png');
    step('alice landed in app B, signed in, with the data A sent');

    // 3. A calls B's API through the gateway: B sees alice, and A acting.
    await alice.goto(appA);
    await alice.click('#call-b');
    const said = JSON.parse(await alice.textContent('#answer'));
    check(said.username === 'alice', `B's API saw ${JSON.stringify(said)}`);
    check(said.act && said.act.sub === aId, `B's API saw act ${JSON.stringify(said.act)}`);
    await shot(alice, 'handoff-gateway.png');
    step(`B's API, through the gateway: ${JSON.stringify(said)}`);

    // 3b. A trades alice's token for one meant for B (RFC 8693): act = A, aud = B.
    await alice.goto(appA);
    await alice.click('#exchange');
    const exchanged = JSON.parse(await alice.textContent('#exchanged'));
    check(exchanged.username === 'alice' && exchanged.act.sub === aId, `exchanged: ${JSON.stringify(exchanged)}`);
    step(`token exchange: ${JSON.stringify(exchanged)}`);

    // 4. bob, signed in at the hub, opens a link made for alice: the error page, nothing issued.
    const bob = await (await browser.newContext({ viewport: { width: 900, height: 700 } })).newPage();
    bob.context().setDefaultTimeout(20_000);
    await bob.goto(`${hub}/login`);
    await signInAtHub(bob, 'bob');
    // The link A makes for alice (A's menu, without following it).
    const link = await locationOf(alice, 'POST', `${appA}/open-in-b`);
    check(link.startsWith(`${hub}/oauth2/transmit/`), `A's menu led to ${link}`);
    const refused = await bob.goto(link);
    check(refused.status() === 403, `bob at alice's link: HTTP ${refused.status()}`);
    check((await bob.textContent('body')).includes('made for another account'), 'bob: no error page');
    check(!bob.url().startsWith(appB), 'bob reached app B');
    await shot(bob, 'handoff-wrong-person.png');
    step('bob gets "this link was made for another account"');

    // 5. alice's handover URL carried into bob's browser: B asks the hub and refuses.
    // alice's browser follows the link to the hub (consent is remembered), which answers with
    // the handover URL for B; that URL goes to bob instead.
    const fresh = await locationOf(alice, 'POST', `${appA}/open-in-b`);
    const answer = await locationOf(alice, 'GET', fresh);
    check(answer.startsWith(`${appB}/from-a`), `the hub led to ${answer}`);
    await bob.goto(answer);
    check((await bob.textContent('body')).includes('handover refused'), `B took alice's handover in bob's browser: ${await bob.textContent('body')}`);
    await shot(bob, 'handoff-planted.png');
    step("a handover carried to bob's browser is refused by B's check");
  } finally {
    await browser.close();
  }
  console.log(`OK (handoff_walk.mjs): screenshots in ${artifacts}`);
}

main().catch((error) => {
  console.error(`FAIL (handoff_walk.mjs): ${error.stack || error}`);
  process.exit(1);
});
