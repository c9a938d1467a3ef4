/**
 * The web UI in a real browser (Debian's Chromium via playwright-core) against a real
 * `rekey server` process on 127.0.0.1 (fresh SQLite data directory): sign in; create an API key and copy it; send metrics with it through
 * the official Datadog client; watch the host appear on the key page; be refused revoking
 * the only key; create a second key, revoke the first, see it under Revoked; restore it.
 * Every page is screenshotted at 1280 px and 375 px into test-artifacts/ui/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, v2 } from '@datadog/datadog-api-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { parseKey } from '../../src/keys/key-format.js';
import { LAST_KEY_MESSAGE } from '../../src/ui/pages/api-keys-page.js';
import { fitsWidth, launchChromium, screenshotBoth, WIDTHS } from './browser.js';
import { startRekeyServer, type RunningServer } from './ui-server.js';

describe('web UI in Chromium against the real server', () => {
  let server: RunningServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];

  before(async () => {
    server = await startRekeyServer();
    browser = await launchChromium();
    context = await browser.newContext({ viewport: WIDTHS.desktop });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    // Any CSP violation or script error fails the run (refused requests, e.g. the 400 for
    // the last key, are logged as "Failed to load resource" and are expected here).
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(message.text());
    });
    page.on('response', (response) => {
      if (response.status() === 404) problems.push(`404 for ${response.url()}`);
    });
    page.on('pageerror', (error) => problems.push(error.message));
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const keyRow = (name: string, table = '#active-keys') => page.locator(`${table} tbody tr`, { hasText: name });

  let createdKey = '';
  let createdKeyId = '';

  it('signs in', async () => {
    await page.goto(`${server.url}/keys`);
    assert.match(page.url(), /\/login\?next=%2Fkeys$/);
    await screenshotBoth(page, '01-login');
    await page.fill('#email', server.admin.email);
    await page.fill('#password', 'not the password');
    await page.click('button[type=submit]');
    assert.equal(await page.locator('[role=alert]').textContent(), 'Email or password is incorrect.');
    await page.fill('#password', server.admin.password);
    await page.click('button[type=submit]');
    await page.waitForURL(`${server.url}/keys`);
    assert.equal(await page.locator('h1').textContent(), 'API keys');
    const cookies = await context.cookies(server.url);
    const session = cookies.find((c) => c.name === 'rekey_session');
    assert.ok(session);
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    await screenshotBoth(page, '02-api-keys');
    assert.ok(await fitsWidth(page));
  });

  it('creates an API key, shows it once and copies it', async () => {
    await page.fill('#new-key-name', 'browser key');
    await page.click('#create-key button[type=submit]');
    const field = page.locator('#new-api-key');
    createdKey = await field.inputValue();
    assert.equal(parseKey(createdKey, 'api').ok, true, 'a well-formed API key is shown');
    assert.match((await page.locator('#new-key').textContent()) ?? '', /will not be shown again/);
    await page.click('button[data-copy-target="new-api-key"]');
    await page.locator('button[data-copy-target="new-api-key"]', { hasText: 'Copied' }).waitFor();
    const copied = await page.evaluate<string>('navigator.clipboard.readText()');
    assert.equal(copied, createdKey, 'the copy button put the key on the clipboard');
    await screenshotBoth(page, '03-api-key-created');
    await page.setViewportSize(WIDTHS.phone);
    assert.ok(await fitsWidth(page), 'the created-key page fits 375 px');
    await page.setViewportSize(WIDTHS.desktop);

    createdKeyId = (await keyRow('browser key').getAttribute('data-key-id'))!;
    await page.goto(`${server.url}/keys`);
    assert.equal(await page.locator('#new-api-key').count(), 0, 'a reload never shows the key again');
    assert.ok(!(await page.content()).includes(createdKey));
  });

  it('accepts metrics sent with the copied key by the official client and shows the host on the key page', async () => {
    const configuration = client.createConfiguration({
      authMethods: { apiKeyAuth: createdKey },
      baseServer: new client.BaseServerConfiguration(server.url, {}),
      enableRetry: false,
    });
    const now = Math.floor(Date.now() / 1000);
    const response = await new v2.MetricsApi(configuration).submitMetrics({
      body: {
        series: [
          {
            metric: 'ui.test.load',
            type: 3,
            points: [
              { timestamp: now - 20, value: 1 },
              { timestamp: now - 10, value: 2 },
            ],
            resources: [{ name: 'web-ui-1', type: 'host' }],
          },
        ],
      },
    });
    assert.deepEqual(response.errors, []);

    // Usage is flushed to the store about once a second: reload until the host shows.
    let found = false;
    for (let attempt = 0; attempt < 30 && !found; attempt++) {
      await page.goto(`${server.url}/keys/${createdKeyId}`);
      found = (await page.locator('#key-hosts tbody tr', { hasText: 'web-ui-1' }).count()) === 1;
      if (!found) await new Promise((resolve) => setTimeout(resolve, 300));
    }
    assert.ok(found, 'the host appears on the key page');
    const row = page.locator('#key-hosts tbody tr', { hasText: 'web-ui-1' });
    assert.match((await row.textContent()) ?? '', /\b2\b/, 'two points counted');
    await page.locator('#usage-chart canvas').first().waitFor();
    const legend = (await page.locator('#usage-chart').textContent()) ?? '';
    assert.match(legend, /hosts/);
    await screenshotBoth(page, '04-key-page');

    await page.goto(`${server.url}/hosts`);
    assert.match((await page.locator('#hosts tbody tr', { hasText: 'web-ui-1' }).textContent()) ?? '', new RegExp(createdKey.slice(-4)));
    await screenshotBoth(page, '05-hosts');
  });

  it('refuses to revoke the only active key', async () => {
    // Revoke the bootstrap key first, so the key created above is the only one.
    await page.goto(`${server.url}/keys`);
    await keyRow('First API key').locator('a', { hasText: 'Revoke' }).click();
    await page.locator('form button.danger').click();
    await page.waitForURL(`${server.url}/keys`);
    assert.equal(await keyRow('First API key', '#revoked-keys').count(), 1);

    const onlyRow = keyRow('browser key');
    assert.equal(await onlyRow.locator('button', { hasText: 'Revoke' }).isDisabled(), true, 'Revoke is disabled on the last key');
    assert.equal(await page.locator('#last-key-reason').textContent(), LAST_KEY_MESSAGE);
    await screenshotBoth(page, '06-only-key');

    // Going to the confirmation anyway: refused with the reason, and no revoke form.
    const refused = await page.goto(`${server.url}/keys/${createdKeyId}/revoke`);
    assert.equal(refused?.status(), 400);
    assert.equal(await page.locator('[role=alert]').textContent(), LAST_KEY_MESSAGE);
    assert.equal(await page.locator('form button.danger').count(), 0);
    await screenshotBoth(page, '07-revoke-refused');

    // And a forged POST (valid session and CSRF token) is refused by the store.
    await page.goto(`${server.url}/keys`);
    const status = await page.evaluate<{ status: number; text: string }, string>(async (id) => {
      // Runs in the page (no DOM types in this project's tsconfig).
      const doc = (globalThis as unknown as { document: { querySelector(s: string): { value: string } } }).document;
      const response = await fetch(`/keys/${id}/revoke`, {
        method: 'POST',
        body: new URLSearchParams({ _csrf: doc.querySelector('input[name=_csrf]').value }),
      });
      return { status: response.status, text: await response.text() };
    }, createdKeyId);
    assert.equal(status.status, 400);
    assert.ok(status.text.includes('It isn&#39;t possible to have zero API keys'));
    await page.goto(`${server.url}/keys`);
    assert.equal(await keyRow('browser key').count(), 1, 'the key is still active');
  });

  it('creates a second key, revokes the first after seeing its hosts, and restores it', async () => {
    await page.goto(`${server.url}/keys`);
    await page.fill('#new-key-name', 'second key');
    await page.click('#create-key button[type=submit]');
    assert.equal(parseKey(await page.locator('#new-api-key').inputValue(), 'api').ok, true);

    await page.goto(`${server.url}/keys`);
    await keyRow('browser key').locator('a', { hasText: 'Revoke' }).click();
    assert.match((await page.locator('h1').textContent()) ?? '', /browser key/);
    assert.equal(await page.locator('#revoke-hosts tbody tr', { hasText: 'web-ui-1' }).count(), 1, 'the confirmation lists the host still using it');
    assert.match((await page.locator('.notice.warn').textContent()) ?? '', /1 host used this key/);
    await screenshotBoth(page, '08-revoke-confirm');
    await page.locator('form button.danger').click();
    await page.waitForURL(`${server.url}/keys`);
    assert.equal(await keyRow('browser key').count(), 0, 'gone from the active keys');
    assert.equal(await keyRow('browser key', '#revoked-keys').count(), 1, 'listed under Revoked');
    assert.match((await page.locator('[role=status]').textContent()) ?? '', /revoked/);
    await screenshotBoth(page, '09-revoked');

    // The revoked key no longer sends data.
    const configuration = client.createConfiguration({
      authMethods: { apiKeyAuth: createdKey },
      baseServer: new client.BaseServerConfiguration(server.url, {}),
      enableRetry: false,
    });
    await assert.rejects(
      new v2.MetricsApi(configuration).submitMetrics({
        body: { series: [{ metric: 'ui.test.load', type: 3, points: [{ timestamp: Math.floor(Date.now() / 1000), value: 1 }] }] },
      }),
      (error: { code?: number }) => error.code === 403,
    );

    await keyRow('browser key', '#revoked-keys').locator('button', { hasText: 'Restore' }).click();
    await page.waitForURL(`${server.url}/keys`);
    assert.equal(await keyRow('browser key').count(), 1, 'back among the active keys');
    assert.equal(await keyRow('browser key', '#revoked-keys').count(), 0);
    // …and works again at the intake.
    const restored = await new v2.MetricsApi(configuration).submitMetrics({
      body: {
        series: [
          {
            metric: 'ui.test.load',
            type: 3,
            points: [{ timestamp: Math.floor(Date.now() / 1000), value: 3 }],
            resources: [{ name: 'web-ui-1', type: 'host' }],
          },
        ],
      },
    });
    assert.deepEqual(restored.errors, []);
  });

  it('renames inline, and rolls a key with a grace period while the chart shows the rotation', async () => {
    await page.goto(`${server.url}/keys`);
    const row = keyRow('second key');
    await row.locator('details.rename summary').click();
    await row.locator('input[name=name]').fill('second key (renamed)');
    await row.locator('details.rename button').click();
    await page.waitForURL(`${server.url}/keys`);
    assert.equal(await keyRow('second key (renamed)').count(), 1);

    await keyRow('browser key').locator('a', { hasText: 'Roll' }).click();
    await screenshotBoth(page, '10-roll');
    await page.fill('#roll-name', 'browser key rolled');
    await page.selectOption('#grace', String(3600));
    await page.click('form button.primary');
    const rolledKey = await page.locator('#new-api-key').inputValue();
    assert.equal(parseKey(rolledKey, 'api').ok, true);
    assert.match((await page.locator('#new-key').textContent()) ?? '', /keeps working until/);
    assert.equal(await keyRow('browser key').first().locator('.badge.expiring').count(), 1);
    await screenshotBoth(page, '11-rolled');

    // The host moves to the new key; the old key's page charts both keys.
    const configuration = client.createConfiguration({
      authMethods: { apiKeyAuth: rolledKey },
      baseServer: new client.BaseServerConfiguration(server.url, {}),
      enableRetry: false,
    });
    const sent = await new v2.MetricsApi(configuration).submitMetrics({
      body: {
        series: [
          {
            metric: 'ui.test.load',
            type: 3,
            points: [{ timestamp: Math.floor(Date.now() / 1000), value: 4 }],
            resources: [{ name: 'web-ui-1', type: 'host' }],
          },
        ],
      },
    });
    assert.deepEqual(sent.errors, []);
    let series: string[] = [];
    for (let attempt = 0; attempt < 30; attempt++) {
      await page.goto(`${server.url}/keys/${createdKeyId}`);
      const data = JSON.parse((await page.locator('#usage-data').textContent()) ?? '{}') as { series: Array<{ label: string; values: number[] }> };
      series = data.series.filter((s) => s.label.startsWith('hosts') && s.values.some((v) => v > 0)).map((s) => s.label);
      if (series.length === 2) break;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    assert.deepEqual(series.sort(), [`hosts · …${createdKey.slice(-4)}`, `hosts · …${rolledKey.slice(-4)}`].sort(), 'both keys report web-ui-1');
    assert.match((await page.locator('dl.facts').textContent()) ?? '', /Replaced by\s*browser key rolled/);
    await page.locator('#usage-chart canvas').first().waitFor();
    await screenshotBoth(page, '12-rotation-key-page');
  });

  it('shows application keys, the audit trail and users; creates each once', async () => {
    await page.goto(`${server.url}/app-keys`);
    await page.fill('#new-app-key-name', 'ci');
    await page.click('form[action="/app-keys"] button[type=submit]');
    assert.equal(parseKey(await page.locator('#new-app-key').inputValue(), 'app').ok, true);
    await screenshotBoth(page, '13-app-keys');

    await page.goto(`${server.url}/users`);
    await page.fill('#user-email', 'new.person@acme.test');
    await page.fill('#user-name', 'New Person');
    await page.selectOption('#user-role', 'read_only');
    await page.click('form[action="/users"] button[type=submit]');
    const password = await page.locator('#new-password').inputValue();
    assert.ok(password.length >= 20);
    await screenshotBoth(page, '14-users');

    await page.goto(`${server.url}/audit`);
    const audit = (await page.locator('#audit').textContent()) ?? '';
    for (const action of ['user.login', 'user.login_failed', 'api_key.create', 'api_key.revoke', 'api_key.restore', 'api_key.roll', 'user.create']) {
      assert.ok(audit.includes(action), `audit shows ${action}`);
    }
    assert.ok(!audit.includes(createdKey), 'no key in the audit trail');
    await screenshotBoth(page, '15-audit');
    for (const path of ['/keys', '/app-keys', '/hosts', '/audit', '/users', `/keys/${createdKeyId}`]) {
      await page.goto(`${server.url}${path}`);
      await page.setViewportSize(WIDTHS.phone);
      assert.ok(await fitsWidth(page), `${path} fits 375 px`);
      await page.setViewportSize(WIDTHS.desktop);
    }
  });

  it('signs out', async () => {
    await page.click('header form button');
    await page.waitForURL(`${server.url}/login`);
    await page.goto(`${server.url}/keys`);
    assert.match(page.url(), /\/login/);
    assert.deepEqual(problems, [], 'no CSP violation or script error on any page');
    assert.doesNotMatch(server.stderr(), new RegExp(createdKey), 'the key never reaches the server log');
  });
});
