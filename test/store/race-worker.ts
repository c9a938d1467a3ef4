/**
 * A separate process for the store race tests (store-races.test.ts): opens its own Store on
 * the same database and, on command, fires a batch of concurrent revocations or creations at
 * a given wall-clock instant, then reports how many succeeded and which errors the rest got.
 *
 * Protocol: one JSON object per line on stdin and stdout.
 *   → {"type":"open","location":{…}}                          ← {"type":"ready"}
 *   → {"type":"revoke","orgId":…,"keyIds":[…],"startAt":ms}  ← {"type":"done","ok":n,"errors":{CODE:n}}
 *   → {"type":"create","orgId":…,"count":n,"startAt":ms}     ← (same)
 */
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { generateKey, last4 } from '../../src/keys/key-format.js';
import { createKeyHasher } from '../../src/keys/key-hasher.js';
import { openStore } from '../../src/store/open-store.js';
import type { Actor, Store } from '../../src/store/store.js';
import { tally, type RaceOutcome } from './race-tally.js';

const actor: Actor = { userId: null, kind: 'cli', sourceIp: null };
const hasher = createKeyHasher(randomBytes(32));
let store: Store | undefined;

function send(message: object): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

async function atInstant(startAt: number): Promise<void> {
  const wait = startAt - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

for await (const line of createInterface({ input: process.stdin })) {
  const message = JSON.parse(line) as
    | { type: 'open'; location: { dataDir?: string; databaseUrl?: string } }
    | { type: 'revoke'; orgId: string; keyIds: string[]; startAt: number }
    | { type: 'create'; orgId: string; count: number; startAt: number };
  if (message.type === 'open') {
    store = await openStore({ ...message.location, maxConnections: 5 });
    send({ type: 'ready' });
    continue;
  }
  const s = store!;
  await atInstant(message.startAt);
  let outcome: RaceOutcome;
  if (message.type === 'revoke') {
    outcome = await tally(message.keyIds.map((id) => s.revokeApiKey(message.orgId, id, actor)));
  } else {
    outcome = await tally(
      Array.from({ length: message.count }, (_, i) => {
        const key = generateKey('api');
        return s.createApiKey(message.orgId, { name: `race ${i}`, hash: hasher.hash(key), last4: last4(key) }, actor);
      }),
    );
  }
  send({ type: 'done', ...outcome });
}
await store?.close();
