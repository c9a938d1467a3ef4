/**
 * `rekey init`, `rekey org create`, `rekey user create` as a user runs them: the real CLI in
 * a child process, on SQLite and PostgreSQL, including every bad input the issue names —
 * each a one-line error naming the problem, exit code 1 or 2, never a stack trace.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseKey } from '../../src/keys/key-format.js';
import { createKeyHasher } from '../../src/keys/key-hasher.js';
import { verifyPassword } from '../../src/keys/password.js';
import { openStore, type StoreLocation } from '../../src/store/open-store.js';
import { assertOneLineError, cleanEnv, tempDirs } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { runRekey } from '../support/processes.js';

const tempDir = tempDirs('rekey-cli-');

const INIT_SHAPE = {
  org: ['id', 'name'],
  admin: ['email', 'password'],
  api_key: ['id', 'key', 'last4'],
  app_key: ['id', 'key', 'last4'],
};

function parseInitJson(stdout: string): Record<string, Record<string, string>> {
  const lines = stdout.trimEnd().split('\n');
  assert.equal(lines.length, 1, `exactly one line on stdout, got:\n${stdout}`);
  const parsed = JSON.parse(lines[0]!) as Record<string, Record<string, string>>;
  assert.deepEqual(Object.keys(parsed), Object.keys(INIT_SHAPE));
  for (const [section, fields] of Object.entries(INIT_SHAPE)) {
    assert.deepEqual(Object.keys(parsed[section]!), fields, section);
    for (const field of fields) assert.equal(typeof parsed[section]![field], 'string');
  }
  return parsed;
}

/** What a store holds, to show a failed command changed nothing. */
async function snapshot(location: StoreLocation): Promise<string> {
  const store = await openStore(location);
  try {
    const orgs = await store.listOrgs();
    const parts = [];
    for (const org of orgs) {
      parts.push({
        org,
        users: await store.listUsers(org.id),
        keys: await store.listApiKeys(org.id, { status: 'all' }),
        apps: await store.listAppKeys(org.id),
        audit: await store.listAuditEvents(org.id),
      });
    }
    return JSON.stringify(parts);
  } finally {
    await store.close();
  }
}

function fileDigests(dir: string): Record<string, string> {
  const digests: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    digests[name] = createHash('sha256')
      .update(readFileSync(join(dir, name)))
      .digest('hex');
  }
  return digests;
}

async function checkCredentials(location: StoreLocation, credentials: Record<string, Record<string, string>>): Promise<void> {
  const store = await openStore(location);
  try {
    const hasher = createKeyHasher(await store.deploymentSecret());
    const apiKey = await store.findApiKeyByHash(hasher.hash(credentials.api_key!.key!));
    assert.equal(apiKey?.id, credentials.api_key!.id);
    assert.equal(apiKey?.orgId, credentials.org!.id);
    assert.equal(apiKey?.last4, credentials.api_key!.last4);
    assert.equal((await store.findAppKeyByHash(hasher.hash(credentials.app_key!.key!)))?.id, credentials.app_key!.id);
    const admin = await store.findUserByEmail(credentials.admin!.email!);
    assert.equal(admin?.role, 'admin');
    assert.ok(await verifyPassword(credentials.admin!.password!, admin!.passwordHash));
  } finally {
    await store.close();
  }
}

describe('rekey init on SQLite', () => {
  it('--json prints exactly the credentials object once; a second run changes nothing and exits 2', async () => {
    const dir = join(tempDir(), 'data');
    const first = await runRekey(['init', '--data', dir, '--json'], { env: cleanEnv() });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stderr, '');
    const credentials = parseInitJson(first.stdout);
    assert.equal(parseKey(credentials.api_key!.key!, 'api').ok, true);
    assert.equal(parseKey(credentials.app_key!.key!, 'app').ok, true);
    assert.equal(credentials.api_key!.last4, credentials.api_key!.key!.slice(-4));
    assert.equal(credentials.app_key!.last4, credentials.app_key!.key!.slice(-4));
    assert.equal(statSync(join(dir, 'secret.key')).mode & 0o777, 0o600);
    await checkCredentials({ dataDir: dir }, credentials);

    const files = fileDigests(dir);
    const state = await snapshot({ dataDir: dir });
    const again = await runRekey(['init', '--data', dir, '--json'], { env: cleanEnv() });
    assertOneLineError(again, 2, /already initialised; nothing was changed/);
    assert.ok(again.stderr.includes(dir), 'names the data directory');
    assert.equal(again.stdout, '');
    assert.equal(await snapshot({ dataDir: dir }), state);
    assert.deepEqual(fileDigests(dir), files, 'not a byte changed');
  });

  it('takes the data directory from REKEY_DATA and prints a readable summary without --json', async () => {
    const dir = join(tempDir(), 'from-env');
    const result = await runRekey(['init', '--org', 'Acme'], { env: cleanEnv({ REKEY_DATA: dir }) });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Initialised rekey in .*from-env \(SQLite\)/);
    assert.match(result.stdout, /Organization\s+Acme/);
    assert.match(result.stdout, /API key\s+[0-9a-f]{32}\s/);
    assert.match(result.stdout, /Application key\s+[0-9a-f]{40}\s/);
    assert.match(result.stdout, /shown only this once/);
    const store = await openStore({ dataDir: dir });
    try {
      assert.deepEqual(
        (await store.listOrgs()).map((o) => o.name),
        ['Acme'],
      );
    } finally {
      await store.close();
    }
  });

  it('fails in one line when the data directory cannot be written', async () => {
    const blocker = join(tempDir(), 'a-file');
    writeFileSync(blocker, 'not a directory');
    const result = await runRekey(['init', '--data', join(blocker, 'data'), '--json'], { env: cleanEnv() });
    assertOneLineError(result, 1, /data directory .*a-file\/data is not writable \(ENOTDIR\)/);
    assert.equal(result.stdout, '');
  });
});

describe('admin CLI on SQLite', () => {
  let dir: string;
  before(async () => {
    dir = join(tempDir(), 'data');
    const init = await runRekey(['init', '--data', dir, '--json'], { env: cleanEnv() });
    assert.equal(init.code, 0, init.stderr);
  });

  it('creates organisations and refuses a duplicate name', async () => {
    const created = await runRekey(['org', 'create', 'Globex', '--data', dir, '--json'], { env: cleanEnv() });
    assert.equal(created.code, 0, created.stderr);
    const org = JSON.parse(created.stdout) as { id: string; name: string };
    assert.equal(org.name, 'Globex');
    const human = await runRekey(['org', 'create', 'Initech', '--data', dir], { env: cleanEnv() });
    assert.match(human.stdout, /^Created organization "Initech" \(id [0-9a-f-]{36}\)\.\n$/);
    assertOneLineError(await runRekey(['org', 'create', 'Globex', '--data', dir], { env: cleanEnv() }), 2, /"Globex" already exists/);
    assertOneLineError(await runRekey(['org', 'create', '  ', '--data', dir], { env: cleanEnv() }), 2, /name must not be empty/);
  });

  it('creates users with a password from stdin or a generated one shown once', async () => {
    const password = 'correct horse battery staple';
    const fromStdin = await runRekey(
      ['user', 'create', '--org', 'Default organization', '--email', 'Ann@Example.com', '--role', 'standard', '--password-stdin', '--data', dir, '--json'],
      { env: cleanEnv(), input: `${password}\n` },
    );
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    const ann = JSON.parse(fromStdin.stdout) as Record<string, unknown>;
    assert.equal(ann.email, 'Ann@Example.com');
    assert.equal(ann.name, 'Ann');
    assert.equal(ann.role, 'standard');
    assert.equal(ann.password, undefined, 'a password the user chose is never echoed');

    const generated = await runRekey(
      ['user', 'create', '--org', 'Default organization', '--email', 'bob@example.com', '--role', 'read_only', '--name', 'Bob B', '--data', dir],
      { env: cleanEnv() },
    );
    assert.equal(generated.code, 0, generated.stderr);
    const shown = /Password \(shown only this once\): (\S+)\n/.exec(generated.stdout)?.[1];
    assert.ok(shown, generated.stdout);

    const store = await openStore({ dataDir: dir });
    try {
      const annUser = await store.findUserByEmail('ann@example.com');
      assert.ok(await verifyPassword(password, annUser!.passwordHash));
      const bob = await store.findUserByEmail('bob@example.com');
      assert.equal(bob?.name, 'Bob B');
      assert.equal(bob?.role, 'read_only');
      assert.ok(await verifyPassword(shown, bob!.passwordHash));
      assert.equal(await verifyPassword('wrong', bob!.passwordHash), false);
    } finally {
      await store.close();
    }
  });

  it('rejects an unknown org, a duplicate email, a bad role and a short password in one line', async () => {
    const base = ['--email', 'carol@example.com', '--role', 'admin', '--data', dir];
    assertOneLineError(await runRekey(['user', 'create', '--org', 'Nope Inc', ...base], { env: cleanEnv() }), 2, /No organization named or with id "Nope Inc"/);
    await runRekey(['user', 'create', '--org', 'Default organization', ...base], { env: cleanEnv() });
    assertOneLineError(
      await runRekey(
        ['user', 'create', '--org', 'Default organization', ...base.slice(0, 2), '--email', 'CAROL@example.com', '--role', 'admin', '--data', dir],
        {
          env: cleanEnv(),
        },
      ),
      2,
      /A user with email CAROL@example.com already exists/,
    );
    const badRole = await runRekey(['user', 'create', '--org', 'Default organization', '--email', 'd@example.com', '--role', 'root', '--data', dir], {
      env: cleanEnv(),
    });
    assert.equal(badRole.code, 2);
    assert.match(badRole.stderr, /admin, standard, read_only/);
    assertOneLineError(
      await runRekey(['user', 'create', '--org', 'Default organization', '--email', 'e@example.com', '--role', 'admin', '--password-stdin', '--data', dir], {
        env: cleanEnv(),
        input: 'short\n',
      }),
      2,
      /at least 12/,
    );
  });
});

describe('admin CLI on PostgreSQL (REKEY_DATABASE_URL)', () => {
  let database: TestDatabase;
  before(async () => (database = await createTestDatabase()));
  after(() => database?.drop());

  it('initialises once, then creates orgs and users; never touches the data directory', async () => {
    const dir = join(tempDir(), 'unused');
    const env = cleanEnv({ REKEY_DATABASE_URL: database.url });
    const init = await runRekey(['init', '--data', dir, '--json'], { env });
    assert.equal(init.code, 0, init.stderr);
    const credentials = parseInitJson(init.stdout);
    await checkCredentials({ databaseUrl: database.url }, credentials);
    const state = await snapshot({ databaseUrl: database.url });
    const again = await runRekey(['init', '--json'], { env });
    assertOneLineError(again, 2, /already initialised; nothing was changed/);
    assert.doesNotMatch(again.stderr, /postgres:\/\/[^ ]*@/, 'no credentials in the message');
    assert.equal(await snapshot({ databaseUrl: database.url }), state);
    assert.throws(() => statSync(dir), /ENOENT/);

    assert.equal((await runRekey(['org', 'create', 'Globex'], { env })).code, 0);
    const user = await runRekey(['user', 'create', '--org', 'Globex', '--email', 'g@example.com', '--role', 'admin', '--json'], { env });
    assert.equal(user.code, 0, user.stderr);
    assert.equal((JSON.parse(user.stdout) as { org: { name: string } }).org.name, 'Globex');
  });

  it('fails in one line when the database cannot be reached or the URL is invalid', async () => {
    const unreachable = await runRekey(['init', '--json'], { env: cleanEnv({ REKEY_DATABASE_URL: 'postgres://rekey:s3cret@127.0.0.1:1/x' }) });
    assertOneLineError(unreachable, 1, /Cannot reach the database at 127\.0\.0\.1:1\/x: .*ECONNREFUSED/);
    assert.doesNotMatch(unreachable.stderr, /s3cret/);
    assertOneLineError(
      await runRekey(['org', 'create', 'x'], { env: cleanEnv({ REKEY_DATABASE_URL: 'mysql://127.0.0.1/x' }) }),
      2,
      /REKEY_DATABASE_URL is not valid: the scheme is "mysql"/,
    );
    assertOneLineError(await runRekey(['init'], { env: cleanEnv({ REKEY_DATABASE_URL: 'not a url' }) }), 2, /REKEY_DATABASE_URL is not valid: it is not a URL/);
  });
});
