/**
 * Issue 19, the upstream-403 path end to end, with real processes and a real browser (Debian's
 * Chromium via playwright-core): a `rekey server` in relay mode forwards to a second `rekey
 * server` playing Datadog (as `npm run demo -- --relay` does). Payloads flow; the relay's
 * upstream key is revoked on the "Datadog" side, so the relay gets 403: it keeps acknowledging
 * (202) and holds delivery, `/healthz` says degraded, `/metrics` shows
 * `rekey_relay_upstream_key_refused{org} 1`, and an admin signed in to the relay's UI sees the
 * banner on every page. A standard user sees neither the banner nor the Upstream page, and
 * cannot set the key. The admin types a working key into the Upstream page's password field
 * (never a process argument): the banner goes, delivery resumes by itself, and every payload
 * the relay acknowledged is stored upstream — acknowledged vs stored, read back with the
 * upstream's `GET /api/v1/query`. Screenshots go to test-artifacts/ui/ (relay-*).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshotBoth, WIDTHS } from '../ui/browser.js';
import { runRekey } from '../support/processes.js';
import { eventually, setUpstream, startNode, type RekeyNode } from './relay-support.js';

const STANDARD_PASSWORD = 'standard-user-password-1';

describe('relay: the upstream refuses its key — held, degraded, banner, a new key set in the browser, nothing lost', () => {
  let upstream: RekeyNode;
  let relay: RekeyNode;
  let browser: Browser;
  let admin: Page;
  /** A second key of the "Datadog" organisation: the working key the admin sets, and the test's reader. */
  let workingKey = '';
  let revokedKeyId = '';
  const metric = `relay.refused.m${Date.now()}`;
  /** Each payload is one count of 1 at its own second, from 50 min ago (inside the upstream's 1 h window). */
  const start = Math.floor(Date.now() / 1000) - 3000;
  let sent = 0;
  let acknowledged = 0;

  const upstreamApi = (path: string, init: RequestInit = {}, apiKey = upstream.apiKey) =>
    fetch(`${upstream.server.url}${path}`, {
      ...init,
      headers: { 'dd-api-key': apiKey, 'dd-application-key': upstream.appKey, 'content-type': 'application/json', ...init.headers },
    });
  /** What the upstream stored of `name`: the sum of its counts. */
  async function storedUpstream(name = metric): Promise<number> {
    const query = new URLSearchParams({ from: String(start - 60), to: String(Math.floor(Date.now() / 1000) + 60), query: `sum:${name}{*}.as_count()` });
    const answer = (await (await upstreamApi(`/api/v1/query?${query}`, {}, workingKey)).json()) as { series?: Array<{ pointlist: Array<[number, number]> }> };
    let sum = 0;
    for (const series of answer.series ?? []) for (const [, value] of series.pointlist) sum += value ?? 0;
    return sum;
  }
  /** `count` payloads through the relay with the agent's key, one after another; counts the 202s. */
  async function sendPayloads(count: number, name = metric): Promise<void> {
    for (let i = 0; i < count; i++) {
      const timestamp = start + sent++;
      const response = await fetch(`${relay.server.url}/api/v1/series`, {
        method: 'POST',
        headers: { 'dd-api-key': relay.apiKey, 'content-type': 'application/json' },
        body: JSON.stringify({ series: [{ metric: name, type: 'count', points: [[timestamp, 1]], host: 'relay-agent-1' }] }),
      });
      await response.arrayBuffer();
      if (response.status === 202 && name === metric) acknowledged += 1;
    }
  }
  const relayText = async (path: string) => (await fetch(`${relay.server.url}${path}`)).text();
  const metricValue = (text: string, line: RegExp) => Number(line.exec(text)?.[1] ?? NaN);
  const spooled = async () => metricValue(await relayText('/metrics'), /^rekey_relay_spool_payloads (\S+)$/m);
  const keyRefusedGauge = async () =>
    metricValue(await relayText('/metrics'), new RegExp(`^rekey_relay_upstream_key_refused\\{org="${relay.orgId}"\\} (\\S+)$`, 'm'));
  const health = async () => JSON.parse(await relayText('/healthz')) as { status: string; errors?: string[] };
  async function signIn(page: Page, email: string, password: string): Promise<void> {
    await page.goto(`${relay.server.url}/login`);
    await page.fill('#email', email);
    await page.fill('#password', password);
    await page.click('button[type=submit]');
    await page.waitForURL(`${relay.server.url}/keys`);
  }
  const relayLast4 = async () => {
    const shown = await runRekey(['upstream', 'show', '--data', relay.dataDir, '--org', relay.orgName, '--json'], { env: relay.env });
    assert.equal(shown.code, 0, shown.stderr);
    return (JSON.parse(shown.stdout) as { api_key_last4: string }).api_key_last4;
  };

  before(async () => {
    [upstream, relay] = await Promise.all([startNode(), startNode()]);
    const created = (await (
      await upstreamApi('/api/v2/api_keys', { method: 'POST', body: JSON.stringify({ data: { type: 'api_keys', attributes: { name: 'working key' } } }) })
    ).json()) as { data: { attributes: { key: string } } };
    workingKey = created.data.attributes.key;
    revokedKeyId = upstream.server.credentials!.apiKey!.id;
    await setUpstream(relay, upstream.server.url, upstream.apiKey);
    // Relay mode reaches the node within its poll interval; until then points would be stored
    // by the relay itself: a probe metric per try until one reaches the upstream.
    await eventually(
      async () => {
        const probe = `relay.refused.probe${Date.now()}`;
        await sendPayloads(1, probe);
        await new Promise((resolve) => setTimeout(resolve, 300));
        return (await storedUpstream(probe)) === 1;
      },
      'relay mode in effect',
      30_000,
    );
    browser = await launchChromium();
    admin = await (await browser.newContext({ viewport: WIDTHS.desktop })).newPage();
    admin.setDefaultTimeout(15_000);
  });
  after(async () => {
    await browser?.close();
    await Promise.all([relay?.server.stop(), upstream?.server.stop()]);
  });

  it('payloads flow to "Datadog"; the admin sees no banner', async () => {
    await sendPayloads(10);
    await eventually(async () => (await storedUpstream()) === acknowledged, 'the first payloads stored upstream');
    assert.equal(acknowledged, 10);
    assert.deepEqual(await health(), { status: 'ok', store: 'sqlite' });
    await signIn(admin, relay.server.credentials!.email!, relay.server.credentials!.password!);
    assert.equal(await admin.locator('#relay-banner').count(), 0);
  });

  it('the upstream key revoked upstream: 202s go on, delivery holds, /healthz degraded, the gauge is 1, the admin sees the banner on every page', async () => {
    const revoked = await upstreamApi(`/api/v2/api_keys/${revokedKeyId}`, { method: 'DELETE' }, workingKey);
    assert.ok(revoked.status === 204 || revoked.status === 200, `revoked upstream: ${revoked.status}`);
    await sendPayloads(10);
    assert.equal(acknowledged, 20, 'the relay acknowledges while the upstream refuses its key');
    await eventually(async () => (await keyRefusedGauge()) === 1, 'rekey_relay_upstream_key_refused 1');
    const degraded = await health();
    assert.equal(degraded.status, 'degraded');
    const oldLast4 = upstream.apiKey.slice(-4);
    assert.match(
      degraded.errors?.join('\n') ?? '',
      new RegExp(`organization ${relay.orgId}: the upstream refuses the upstream API key \\(…${oldLast4}, answer 403\\)`),
    );
    assert.ok((await spooled()) >= 10, 'the payloads wait in the spool');
    assert.equal(await storedUpstream(), 10, 'nothing delivered with the refused key');

    for (const path of ['/keys', '/hosts', '/upstream']) {
      await admin.goto(`${relay.server.url}${path}`);
      const banner = admin.locator('#relay-banner');
      assert.equal(await banner.count(), 1, path);
      assert.match((await banner.textContent()) ?? '', new RegExp(`refuses the upstream API key \\(…${oldLast4}, answer 403\\)`), path);
    }
    await admin.goto(`${relay.server.url}/keys`);
    await screenshotBoth(admin, 'relay-01-banner');
    await admin.click('#relay-banner a[href="/upstream"]');
    await admin.waitForURL(`${relay.server.url}/upstream`);
    assert.match((await admin.locator('#upstream').textContent()) ?? '', new RegExp(`…${oldLast4}`));
  });

  it('a standard user sees no banner and no Upstream page, and cannot set the key', async () => {
    const email = 'standard@relay.example';
    const user = await runRekey(
      ['user', 'create', '--data', relay.dataDir, '--org', relay.orgName, '--email', email, '--role', 'standard', '--password-stdin'],
      {
        input: `${STANDARD_PASSWORD}\n`,
        env: relay.env,
      },
    );
    assert.equal(user.code, 0, user.stderr);
    const context = await browser.newContext({ viewport: WIDTHS.desktop });
    try {
      const page = await context.newPage();
      await signIn(page, email, STANDARD_PASSWORD);
      assert.equal(await page.locator('#relay-banner').count(), 0, 'no banner for a standard user');
      assert.equal(await page.locator('a[href="/upstream"]').count(), 0, 'no Upstream link');
      const direct = await page.goto(`${relay.server.url}/upstream`);
      assert.equal(direct?.status(), 403);
      // The form post with the user's own session and CSRF token: refused.
      await page.goto(`${relay.server.url}/keys`);
      const csrf = await page.locator('input[name=_csrf]').first().inputValue();
      const refused = await page.evaluate(
        async ({ csrf, key }) => {
          const response = await fetch('/upstream', {
            method: 'POST',
            body: new URLSearchParams({ _csrf: csrf, mode: 'relay', site: 'https://attacker.example', api_key: key }),
          });
          return { status: response.status, text: await response.text() };
        },
        { csrf, key: 'attacker0000000000000000000000ff' },
      );
      assert.equal(refused.status, 403);
      assert.doesNotMatch(refused.text, /form is out of date/, 'refused for the role, not for the CSRF token');
    } finally {
      await context.close();
    }
    assert.equal(await relayLast4(), upstream.apiKey.slice(-4), 'the upstream key is unchanged');
  });

  it('the admin sets a working key on the Upstream page: the banner goes, delivery resumes, every acknowledged payload is stored upstream', async () => {
    await admin.goto(`${relay.server.url}/upstream`);
    // The site stays as stored (the field is filled with it); the key goes into the password field.
    assert.equal(await admin.inputValue('input[name=site]'), upstream.server.url);
    await admin.fill('input[name=api_key]', workingKey);
    await admin.click('form[action="/upstream"] button[type=submit]');
    await admin.waitForURL(`${relay.server.url}/upstream`);
    assert.match((await admin.locator('#upstream').textContent()) ?? '', new RegExp(`…${workingKey.slice(-4)}`));
    assert.ok(!(await admin.content()).includes(workingKey), 'the key is never shown back');
    assert.equal(await relayLast4(), workingKey.slice(-4));

    await eventually(async () => (await spooled()) === 0, 'the held payloads delivered');
    assert.equal(await keyRefusedGauge(), 0);
    assert.deepEqual(await health(), { status: 'ok', store: 'sqlite' });
    await admin.goto(`${relay.server.url}/keys`);
    assert.equal(await admin.locator('#relay-banner').count(), 0, 'the banner is gone');
    await screenshotBoth(admin, 'relay-02-resumed');

    await sendPayloads(10);
    await eventually(async () => (await spooled()) === 0 && (await storedUpstream()) >= acknowledged, 'the last payloads stored upstream');
    const stored = await storedUpstream();
    process.stdout.write(`# relay acknowledged ${acknowledged} payloads (one count each), "Datadog" stored ${stored}\n`);
    assert.equal(acknowledged, 30);
    assert.equal(stored, acknowledged, 'every acknowledged payload stored upstream, once');

    const logs = relay.server.stdout() + relay.server.stderr();
    assert.ok(!logs.includes(workingKey) && !logs.includes(upstream.apiKey), "no upstream key in the relay's output");
  });
});
