/**
 * Every organisation's upstream as this node knows it: read from the store at start, again at
 * once when the store announces a change (`watchUpstreamChanges`: this process, and with
 * PostgreSQL every node and CLI through NOTIFY), and every `pollMs` (default 2 s) for what no
 * announcement reaches (a CLI run against the same SQLite file), so `rekey upstream set` or
 * `rekey upstream rotate` reaches every relay node without a restart. The upstream keys are decrypted here,
 * held in memory only, and never logged.
 *
 * Heartbeat (migration 012): with a `nodeId`, every successful read ends with a report of this
 * node's upstream version per organisation (`store.reportRelayNodeUpstreams`) — at least every
 * `pollMs`, never per request — so `rekey upstream rotate` can see that every live node
 * forwards with the new key before it revokes the old one. The store records each report with the
 * database's time, not this machine's: the rotation judges its age by that clock too
 * (upstream-node-confirmation.ts), so a node whose clock is off looks neither dead nor live.
 * `close()` forgets the node.
 *
 * Deployment default: `REKEY_UPSTREAM_SITE` + `REKEY_UPSTREAM_API_KEY` put the default
 * organisation (the first one created) in relay mode when it has no upstream of its own; a
 * stored upstream always wins.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { OrgMode, Store, UpstreamSettings } from '../store/store.js';
import { UpstreamKeyCipher } from './upstream-crypto.js';
import { normaliseSite, upstreamUrls, type UpstreamUrls } from './upstream-site.js';

export interface ResolvedUpstream {
  orgId: string;
  mode: OrgMode;
  urls: UpstreamUrls;
  /** Undefined when the stored key cannot be decrypted (UPSTREAM_KEY_UNREADABLE): delivery holds. */
  apiKey: string | undefined;
  apiKeyLast4: string;
  /** Changes whenever the site, URLs or key change: a hold on a refused key ends when it does. */
  version: string;
  source: 'store' | 'environment';
}

export interface UpstreamDefaults {
  site?: string;
  apiKey?: string;
}

export function upstreamDefaultsFromEnv(env: NodeJS.ProcessEnv): UpstreamDefaults {
  const site = env.REKEY_UPSTREAM_SITE?.trim();
  const apiKey = env.REKEY_UPSTREAM_API_KEY?.trim();
  const allowInsecure = /^(1|true|yes)$/i.test(env.REKEY_UPSTREAM_ALLOW_INSECURE?.trim() ?? '');
  return { ...(site ? { site: normaliseSite(site, { allowInsecure }) } : {}), ...(apiKey ? { apiKey } : {}) };
}

/**
 * The version of a stored upstream: a hash over its site, URLs and *encrypted* key (never the
 * key itself). What a relay node reports it forwards with, and what `rekey upstream rotate`
 * expects every node to report after the switch — one function, so they cannot disagree.
 */
export function upstreamVersion(settings: Pick<UpstreamSettings, 'site' | 'urls' | 'encryptedApiKey'>): string {
  return fingerprint(['store', settings.site, settings.urls.metrics, settings.urls.logs, settings.urls.traces, settings.encryptedApiKey]);
}

/**
 * A relay node's id, new at every process start: host name, process id and 8 random hex digits
 * (in logs and rotation progress lines). Containers may share a host name and all run as pid 1,
 * and two nodes with one id would overwrite each other's heartbeat: 32 random bits make that a
 * one-in-four-billion chance per pair (16 bits made it one in 65,536).
 */
export function newRelayNodeId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

export class UpstreamDirectory {
  private upstreams = new Map<string, ResolvedUpstream>();
  private relays = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly cipher: UpstreamKeyCipher;
  private readonly listeners: Array<() => void> = [];
  private stopWatching: (() => Promise<void>) | undefined;
  /** Reads run one after another (a slow poll must not overwrite a newer read); at most one waits. */
  private reading: Promise<void> = Promise.resolve();
  private queued: Promise<void> | undefined;
  /** Whether this node's last report held rows (an empty directory reports once, then writes nothing). */
  private reportedAny = false;
  private stopped = false;

  constructor(
    private readonly store: Store,
    deploymentSecret: Buffer,
    private readonly options: {
      defaults?: UpstreamDefaults;
      pollMs?: number;
      onError?: (error: unknown) => void;
      /** Report this node's upstream versions after every read, under this id (relay nodes; see the heartbeat above). */
      nodeId?: string;
    } = {},
  ) {
    this.cipher = new UpstreamKeyCipher(deploymentSecret);
  }

  async start(): Promise<void> {
    const again = () => {
      this.refresh().catch((error: unknown) => this.options.onError?.(error));
    };
    this.stopWatching = await this.store.watchUpstreamChanges({ onChange: again, onReset: again });
    await this.refresh();
    this.timer = setInterval(() => {
      this.refresh().catch((error: unknown) => this.options.onError?.(error));
    }, this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.stopWatching?.().catch(() => {});
    this.stopWatching = undefined;
  }

  /** Stops, then forgets this node's heartbeat rows (best effort), so a rotation does not wait for a node that left. */
  async close(): Promise<void> {
    this.stop();
    await this.reading;
    if (this.options.nodeId !== undefined && this.reportedAny) {
      await this.store.reportRelayNodeUpstreams({ id: this.options.nodeId, pollMs: this.pollMs }, []).catch((error: unknown) => this.options.onError?.(error));
    }
  }

  private get pollMs(): number {
    return this.options.pollMs ?? 2000;
  }

  /** Called after each refresh that changed something. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  get(orgId: string): ResolvedUpstream | undefined {
    return this.upstreams.get(orgId);
  }

  /** Any organisation in relay mode. */
  anyRelay(): boolean {
    for (const upstream of this.upstreams.values()) if (upstream.mode === 'relay') return true;
    return false;
  }

  /** How many organisations are in relay mode (each is owed a fair share of the spool). */
  relayCount(): number {
    return this.relays;
  }

  isRelay(orgId: string): boolean {
    return this.upstreams.get(orgId)?.mode === 'relay';
  }

  /** Reads every upstream again (after the reads already running or waiting). */
  refresh(): Promise<void> {
    if (this.queued !== undefined) return this.queued;
    const queued = this.reading.then(() => {
      this.queued = undefined;
      return this.read();
    });
    this.queued = queued;
    this.reading = queued.catch(() => undefined);
    return queued;
  }

  private async read(): Promise<void> {
    const next = new Map<string, ResolvedUpstream>();
    for (const settings of await this.store.listUpstreams()) next.set(settings.orgId, this.resolve(settings));
    const defaults = this.options.defaults;
    if (defaults?.site !== undefined && defaults.apiKey !== undefined) {
      const [first] = await this.store.listOrgs(); // oldest first: the deployment's first organisation
      if (first !== undefined && !next.has(first.id)) {
        next.set(first.id, {
          orgId: first.id,
          mode: 'relay',
          urls: upstreamUrls(defaults.site),
          apiKey: defaults.apiKey,
          apiKeyLast4: defaults.apiKey.slice(-4),
          version: fingerprint(['env', defaults.site, defaults.apiKey]),
          source: 'environment',
        });
      }
    }
    const changed =
      next.size !== this.upstreams.size ||
      [...next].some(([orgId, u]) => this.upstreams.get(orgId)?.version !== u.version || this.upstreams.get(orgId)?.mode !== u.mode);
    this.upstreams = next;
    this.relays = [...next.values()].filter((u) => u.mode === 'relay').length;
    if (changed) for (const listener of this.listeners) listener();
    await this.report();
  }

  /** The heartbeat: this node's upstream version per organisation, after each read. */
  private async report(): Promise<void> {
    const nodeId = this.options.nodeId;
    if (nodeId === undefined || this.stopped || (this.upstreams.size === 0 && !this.reportedAny)) return;
    const reports = [...this.upstreams.values()].map((upstream) => ({ orgId: upstream.orgId, version: upstream.version }));
    try {
      await this.store.reportRelayNodeUpstreams({ id: nodeId, pollMs: this.pollMs }, reports); // when: the database's time, not this machine's
      this.reportedAny = reports.length > 0;
    } catch (error) {
      this.options.onError?.(
        new Error(`reporting this node's upstream versions (its heartbeat) failed: ${error instanceof Error ? error.message : String(error)}`, {
          cause: error,
        }),
      );
    }
  }

  private resolve(settings: UpstreamSettings): ResolvedUpstream {
    let apiKey: string | undefined;
    try {
      apiKey = this.cipher.decrypt(settings.orgId, settings.encryptedApiKey);
    } catch (error) {
      this.options.onError?.(error);
    }
    return {
      orgId: settings.orgId,
      mode: settings.mode,
      urls: upstreamUrls(settings.site, settings.urls),
      apiKey,
      apiKeyLast4: settings.apiKeyLast4,
      version: upstreamVersion(settings),
      source: 'store',
    };
  }
}

function fingerprint(parts: Array<string | null>): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}
