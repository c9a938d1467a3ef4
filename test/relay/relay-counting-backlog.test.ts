/**
 * One key holder sending bodies costly to count (8 KiB of gzip inflating to 8 MiB of `0,0,…`)
 * to a relay must not exhaust its memory nor delay another key's count for long
 * (src/relay/counting-queue.ts): a real `rekey server` in relay mode, a recording upstream.
 * Before the queue, every acknowledged body inflated at once: 120 such requests (8 at a time)
 * took the relay's RSS past 1 GiB (1,880 MiB for 478 in a hostile try) and all were 202.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { eventually, post, relayToRecorder, type RekeyNode } from './relay-support.js';

/** The process's resident memory in MiB (Linux). */
function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match === null ? 0 : Number(match[1]) / 1024;
}

describe('relay mode: a key sending bodies costly to count', () => {
  let relay: RekeyNode;

  const management = (path: string, init: RequestInit = {}) =>
    fetch(`${relay.server.url}${path}`, {
      ...init,
      headers: { 'dd-api-key': relay.apiKey, 'dd-application-key': relay.appKey, 'content-type': 'application/json', ...init.headers },
    });

  let stop: () => Promise<void>;

  before(async () => {
    ({ relay, stop } = await relayToRecorder('c'.repeat(28) + 'up05'));
  });
  after(() => stop());

  it('is refused 429 once its bodies wait to be counted; memory stays bounded; another key is still counted', { timeout: 120_000 }, async () => {
    const created = (await (
      await management('/api/v2/api_keys', { method: 'POST', body: JSON.stringify({ data: { type: 'api_keys', attributes: { name: 'junk sender' } } }) })
    ).json()) as { data: { attributes: { key: string } } };
    const junkKey = created.data.attributes.key;
    const plain = Buffer.alloc(8 * 1024 * 1024 - 4096, '0,');
    const junk = gzipSync(Buffer.concat([Buffer.from('{"series":[{"metric":"m","points":[['), plain, Buffer.from('0]]}]}')]), { level: 9 });
    assert.ok(junk.length < 16 * 1024, `${junk.length} bytes of gzip`);

    const pid = relay.server.child.pid!;
    let maxRss = rssMiB(pid);
    const sampler = setInterval(() => (maxRss = Math.max(maxRss, rssMiB(pid))), 50);
    const statuses: number[] = [];
    let next = 0;
    const sender = async () => {
      while (next < 120) {
        next++;
        statuses.push(await post(`${relay.server.url}/api/v1/series`, junkKey, junk, { 'content-encoding': 'gzip' }));
      }
    };
    try {
      await Promise.all(Array.from({ length: 8 }, sender));
    } finally {
      clearInterval(sampler);
    }
    const refused = statuses.filter((s) => s === 429).length;
    assert.ok(refused > 0, `some refused 429 (statuses: ${[...new Set(statuses)].join(', ')})`);
    assert.deepEqual(
      statuses.filter((s) => s !== 202 && s !== 429),
      [],
    );
    assert.ok(maxRss < 600, `the relay's RSS stayed under 600 MiB: ${maxRss.toFixed(0)} MiB`);

    // Another key's small series is still counted, while the junk key's backlog drains.
    const host = `backlog-victim-${Date.now()}`;
    const small = JSON.stringify({ series: [{ metric: 'victim', points: [[Math.floor(Date.now() / 1000), 1]], host }] });
    assert.equal(await post(`${relay.server.url}/api/v1/series`, relay.apiKey, small), 202);
    await eventually(async () => {
      const answer = (await (await management(`/api/v2/api_keys/${relay.server.credentials!.apiKey!.id}/hosts`)).json()) as unknown;
      return JSON.stringify(answer).includes(host);
    }, "the other key's point counted");
  });
});
