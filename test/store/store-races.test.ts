/**
 * The invariants under concurrency (docs/product.md §2), on every dialect: in each of 20 trials,
 * 200 concurrent calls from four separate store instances — two in this process (own
 * connections / pools), two in separate child processes (test/store/race-worker.ts) — fired
 * at the same instant:
 *  - revoking all 200 keys of an organisation leaves exactly one active key;
 *  - creating 200 keys in an organisation that has one stops at exactly 50.
 * Every successful change also wrote its audit event (counted).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generateKey, last4 } from '../../src/keys/key-format.js';
import { createKeyHasher } from '../../src/keys/key-hasher.js';
import type { StoreLocation } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { CLI_ACTOR, DIALECTS, type TestStore } from '../support/dialects.js';
import { merge, tally, type RaceOutcome } from './race-tally.js';

const TRIALS = 20;
const CALLS = 200;
const RACERS = 4;
const CAP = 50;
/** Lead time so every racer holds its batch before the common start instant. */
const START_DELAY_MS = 150;

const hasher = createKeyHasher(randomBytes(32));
const workerScript = fileURLToPath(new URL('./race-worker.ts', import.meta.url));

function newKey(name: string) {
  const key = generateKey('api');
  return { name, hash: hasher.hash(key), last4: last4(key) };
}

/** A long-lived child process with its own Store, driven line by line (see race-worker.ts). */
class RaceWorker {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly replies: Array<(reply: Record<string, unknown>) => void> = [];
  private stderr = '';

  constructor() {
    this.child = spawn(process.execPath, ['--import', 'tsx', workerScript], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (chunk) => (this.stderr += chunk));
    createInterface({ input: this.child.stdout }).on('line', (line) => this.replies.shift()?.(JSON.parse(line)));
    this.child.on('exit', (code) => {
      for (const reply of this.replies.splice(0)) reply({ type: 'exit', code, stderr: this.stderr });
    });
  }

  request(message: object, timeoutMs = 60_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`race worker timed out; stderr: ${this.stderr}`)), timeoutMs);
      this.replies.push((reply) => {
        clearTimeout(timer);
        if (reply.type === 'exit') reject(new Error(`race worker exited (${String(reply.code)}): ${this.stderr}`));
        else resolve(reply);
      });
      this.child.stdin.write(`${JSON.stringify(message)}\n`);
    });
  }

  async open(location: StoreLocation): Promise<void> {
    assert.equal((await this.request({ type: 'open', location })).type, 'ready');
  }

  async run(message: object): Promise<RaceOutcome> {
    const reply = await this.request(message);
    return { ok: reply.ok as number, errors: reply.errors as Record<string, number> };
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null) return resolve();
      this.child.once('exit', () => resolve());
      this.child.stdin.end();
      setTimeout(() => this.child.kill('SIGKILL'), 10_000).unref();
    });
  }
}

/**
 * Setup only: inserts `count` active keys in one statement, straight into the table (the
 * store's own create path is what the creation race tests). Returns their ids.
 */
async function insertKeys(store: Store, orgId: string, count: number): Promise<string[]> {
  const now = Date.now();
  const rows = Array.from({ length: count }, (_, i) => ({
    id: randomUUID(),
    org_id: orgId,
    ...newKey(`k${i}`),
    status: 'active',
    created_at: now,
    modified_at: now,
  }));
  await store.sharedTables().write((trx) => trx.insertInto('api_keys').values(rows).execute());
  return rows.map((row) => row.id);
}

async function atInstant(startAt: number): Promise<void> {
  const wait = startAt - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

function shuffled<T>(items: T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

for (const dialect of DIALECTS) {
  describe(`store races on ${dialect.name}`, () => {
    let db: TestStore;
    let setup: Store;
    const locals: Store[] = [];
    const workers: RaceWorker[] = [];

    before(async () => {
      db = await dialect.createStore();
      setup = db.store;
      for (let i = 0; i < RACERS / 2; i++) locals.push(await db.openAnother({ maxApiKeysPerOrg: CAP, maxConnections: 5 }));
      for (let i = 0; i < RACERS / 2; i++) workers.push(new RaceWorker());
      await Promise.all(workers.map((w) => w.open(db.location)));
    });

    after(async () => {
      await Promise.all(workers.map((w) => w.stop()));
      await db?.destroy();
    });

    /** Gives each racer its share of `calls`, fires them all at one instant, merges outcomes. */
    async function race<T>(
      shares: T[][],
      local: (store: Store, share: T[]) => Promise<unknown>[],
      remote: (share: T[], startAt: number) => object,
    ): Promise<RaceOutcome> {
      const startAt = Date.now() + START_DELAY_MS;
      const remoteRuns = workers.map((w, i) => w.run(remote(shares[locals.length + i]!, startAt)));
      await atInstant(startAt);
      const localRuns = locals.map((store, i) => tally(local(store, shares[i]!)));
      return merge(await Promise.all([...localRuns, ...remoteRuns]));
    }

    it(`${CALLS} concurrent revocations of all of an org's keys leave exactly one, in each of ${TRIALS} trials`, async () => {
      for (let trial = 0; trial < TRIALS; trial++) {
        const org = await setup.createOrg(`revoke race ${trial}`, CLI_ACTOR);
        const ids = shuffled(await insertKeys(setup, org.id, CALLS));
        const shares = Array.from({ length: RACERS }, (_, r) => ids.slice((r * CALLS) / RACERS, ((r + 1) * CALLS) / RACERS));
        const outcome = await race(
          shares,
          (store, share) => share.map((id) => store.revokeApiKey(org.id, id, CLI_ACTOR)),
          (share, startAt) => ({ type: 'revoke', orgId: org.id, keyIds: share, startAt }),
        );
        assert.deepEqual(outcome, { ok: CALLS - 1, errors: { LAST_ACTIVE_API_KEY: 1 } }, `trial ${trial}`);
        assert.equal((await setup.listApiKeys(org.id, { status: 'active' })).totalFiltered, 1, `trial ${trial}`);
        assert.equal((await setup.listAuditEvents(org.id, { action: 'api_key.revoke' })).totalFiltered, CALLS - 1);
      }
    });

    it(`${CALLS} concurrent creations stop at the cap of ${CAP}, in each of ${TRIALS} trials`, async () => {
      for (let trial = 0; trial < TRIALS; trial++) {
        const org = await setup.createOrg(`create race ${trial}`, CLI_ACTOR);
        await setup.createApiKey(org.id, newKey('first'), CLI_ACTOR);
        const shares = Array.from({ length: RACERS }, () => Array.from({ length: CALLS / RACERS }, (_, i) => i));
        const outcome = await race(
          shares,
          (store, share) => share.map((i) => store.createApiKey(org.id, newKey(`race ${i}`), CLI_ACTOR)),
          (share, startAt) => ({ type: 'create', orgId: org.id, count: share.length, startAt }),
        );
        assert.deepEqual(outcome, { ok: CAP - 1, errors: { API_KEY_LIMIT_REACHED: CALLS - (CAP - 1) } }, `trial ${trial}`);
        assert.equal((await setup.listApiKeys(org.id, { status: 'active' })).totalFiltered, CAP, `trial ${trial}`);
        assert.equal((await setup.listAuditEvents(org.id, { action: 'api_key.create' })).totalFiltered, CAP);
      }
    });
  });
}
