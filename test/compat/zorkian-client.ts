/**
 * The zorkian Go client (github.com/zorkian/go-datadog-api, Debian's
 * golang-github-zorkian-go-datadog-api-dev) as the tests drive it: test/compat/zorkian/main.go
 * compiled offline against /usr/share/gocode (`GO111MODULE=off`), then run once per call.
 * A machine without `go` or the package fails here: never a skip.
 *
 * Keys reach the program in its environment (DD_API_KEY, DD_APP_KEY, ZK_ARG), never argv.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, run } from '../support/processes.js';

/** What the program prints: whether the call returned an error, and what it returned. */
export interface ZorkianOutcome<T = unknown> {
  ok: boolean;
  error?: string;
  value: T;
}

export interface ZorkianInputs {
  /** A key, an id, a name or a search term: the call's first argument. */
  arg?: string;
  /** A new name (Create…, Update…). */
  name?: string;
  /** A JSON argument (PostCheck: a Check; PostMetrics: []Metric). */
  json?: unknown;
  /** QueryMetrics. */
  from?: number;
  to?: number;
  query?: string;
}

export interface ZorkianClient {
  /** Runs `call` with the keys and base URL given; resolves with the printed outcome. */
  call<T = unknown>(call: string, keys: { apiKey: string; appKey?: string }, inputs?: ZorkianInputs): Promise<ZorkianOutcome<T>>;
  close(): Promise<void>;
}

/** Debian installs the Go sources of its -dev packages here. */
export const DEBIAN_GOCODE = '/usr/share/gocode';

/**
 * The compiled program, built once per test process (a file's two dialects share it): each
 * `go build` costs ~1.4 s of CPU even from Go's build cache (linking), and the binary does not
 * depend on the server — the base URL reaches it in its environment. Removed at process exit.
 */
let built: Promise<string> | undefined;

function buildOnce(): Promise<string> {
  built ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rekey-zorkian-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const binary = join(dir, 'zorkian');
    const env = { ...process.env, GO111MODULE: 'off', GOPATH: `${dir}:${DEBIAN_GOCODE}`, GOFLAGS: '' };
    const result = await run(['go', 'build', '-o', binary, join(repoRoot, 'test/compat/zorkian/main.go')], { env, timeoutMs: 120_000 }).catch(
      (error: Error) => {
        throw new Error(`cannot run go (install golang-go and golang-github-zorkian-go-datadog-api-dev): ${error.message}`);
      },
    );
    assert.equal(result.code, 0, `go build of the zorkian client failed:\n${result.stderr}`);
    return binary;
  })();
  return built;
}

/** The program (built on first use: a few seconds, Go's build cache after) calling `baseUrl`. */
export async function buildZorkianClient(baseUrl: string): Promise<ZorkianClient> {
  const binary = await buildOnce();
  return {
    async call(call, keys, inputs = {}) {
      const result = await run([binary, call], {
        env: {
          PATH: process.env.PATH ?? '',
          DD_BASE_URL: baseUrl,
          DD_API_KEY: keys.apiKey,
          DD_APP_KEY: keys.appKey ?? '',
          ZK_ARG: inputs.arg ?? '',
          ZK_NAME: inputs.name ?? '',
          ZK_JSON: inputs.json === undefined ? '' : JSON.stringify(inputs.json),
          ZK_FROM: String(inputs.from ?? 0),
          ZK_TO: String(inputs.to ?? 0),
          ZK_QUERY: inputs.query ?? '',
        },
        timeoutMs: 30_000,
      });
      assert.equal(result.code, 0, `zorkian ${call} exited ${result.code}: ${result.stderr}`);
      return JSON.parse(result.stdout) as ZorkianOutcome<never>;
    },
    close: async () => {}, // the binary is shared by the process; removed at its exit
  };
}
