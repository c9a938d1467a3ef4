/**
 * `POST /intake/`: the agent's host metadata. The Datadog Agent (v5 and v6/7) sends
 * `internalHostname` and `agentVersion` at the top level with more under `meta`, `host-tags`,
 * `systemStats`…; rekey keeps the hostname, the agent version and the whole document (the
 * latest per host) — without its keys: the Agent's document carries its own API key
 * (`apiKey`, in the common payload), and a key is never stored in clear (docs/product.md §2).
 */
import { rekeyError } from '../errors.js';

export interface HostMetadata {
  host: string;
  agentVersion: string | null;
  /** The payload as sent, re-serialised (bounded by the intake's size limits). */
  document: string;
}

const invalid = (detail: string) => rekeyError('INVALID_PAYLOAD', { detail });

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

export function decodeHostMetadata(payload: unknown): HostMetadata {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw invalid('The payload must be a JSON object');
  const body = payload as Record<string, unknown>;
  const meta = typeof body.meta === 'object' && body.meta !== null ? (body.meta as Record<string, unknown>) : {};
  const host = str(body.internalHostname) ?? str(body.hostname) ?? str(body.host) ?? str(meta.hostname);
  if (host === undefined) throw invalid('The payload names no host; set "internalHostname" (or "hostname")');
  if (host.length > 255) throw invalid('The hostname is longer than 255 characters');
  const agentVersion = str(body.agentVersion) ?? str(body.agent_version) ?? null;
  return { host, agentVersion: agentVersion?.slice(0, 100) ?? null, document: documentWithoutKeys(body) };
}

/**
 * The document as JSON, any field named like a key (apiKey, api_key, appKey,
 * application_key…) left out at any depth. Migration 004 cleans stored documents with it.
 */
export function documentWithoutKeys(document: unknown): string {
  return JSON.stringify(document, withoutKeys);
}

const KEY_FIELD = /^(api|app|application)[_-]?key$/i;
function withoutKeys(name: string, value: unknown): unknown {
  return KEY_FIELD.test(name) ? undefined : value;
}
