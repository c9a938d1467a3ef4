/**
 * Migration 004 on both databases: host metadata stored before it — the Agent's document
 * with the Agent's API key inside — keeps everything but the key fields.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateKey } from '../../src/keys/key-format.js';
import { pointsMigration } from '../../src/store/migrations/002-points.js';
import { hostMetadataWithoutKeysMigration } from '../../src/store/migrations/004-host-metadata-without-keys.js';
import { rawPostgres, rawSqlite } from '../support/raw-databases.js';

for (const open of [rawSqlite, rawPostgres]) {
  describe(`migration 004-host-metadata-without-keys on ${open === rawSqlite ? 'sqlite' : 'postgres'}`, () => {
    it('removes the API keys from stored host documents and changes nothing else', async () => {
      const raw = await open();
      try {
        await pointsMigration.up(raw.db, raw.dialect);
        const key = generateKey('api');
        const host = (name: string, metadata: string | null) => ({ org_id: 'o1', host: name, first_seen: 1, last_seen: 2, agent_version: '7.50.0', metadata });
        await raw.db
          .insertInto('intake_hosts')
          .values([
            host('agent', JSON.stringify({ apiKey: key, internalHostname: 'agent', meta: { api_key: key, hostname: 'agent' } })),
            host('clean', JSON.stringify({ internalHostname: 'clean', agentVersion: '7.50.0' })),
            host('none', null),
            host('garbled', `not json ${key}`),
          ])
          .execute();

        await hostMetadataWithoutKeysMigration.up(raw.db, raw.dialect);

        const rows = Object.fromEntries(
          ((await raw.db.selectFrom('intake_hosts').select(['host', 'metadata']).execute()) as Array<{ host: string; metadata: string | null }>).map((r) => [
            r.host,
            r.metadata,
          ]),
        );
        assert.deepEqual(JSON.parse(rows.agent!), { internalHostname: 'agent', meta: { hostname: 'agent' } });
        assert.equal(rows.clean, JSON.stringify({ internalHostname: 'clean', agentVersion: '7.50.0' }));
        assert.equal(rows.none, null);
        assert.equal(rows.garbled, null, 'a document that cannot be read is dropped, key and all');
        assert.ok(!JSON.stringify(rows).includes(key));
      } finally {
        await raw.drop();
      }
    });
  });
}
