/**
 * The settings an agent needs from a Datadog Agent config file plus its `DD_*` environment
 * overrides — one loader for rekey-agent and for `rekey config show`, so both always agree
 * on which key is in use and where it came from.
 *
 * Precedence (as the Datadog Agent does it): environment over file; `DD_DD_URL` over `DD_URL`
 * over the file's `dd_url`; an explicit URL over `site`.
 *
 * @example
 *   const settings = loadAgentSettings({ file: '/etc/datadog-agent/datadog.yaml', env: process.env });
 *   settings.apiKey;        // 'f3a9…e1c2' (or null)
 *   settings.apiKeySource;  // 'file' | 'env' | 'secret_handle' | 'none'
 *   settings.intakeUrl;     // 'https://api.datadoghq.com'
 *
 * Loading is synchronous and reads the file once: it runs at start-up and on reload, never
 * per request.
 */
import { readFileSync } from 'node:fs';
import { isMap, isScalar, type Node } from 'yaml';
import { rekeyError } from '../errors.js';
import { detectConfigFormat } from './config-format.js';
import { splitConfigText } from './config-text.js';
import { findDefaultConfig } from './default-paths.js';
import { parseV5Ini } from './v5-ini.js';
import { parseV6Yaml, scalarText, stringList } from './v6-yaml.js';

export interface AgentSettings {
  source: { file: string | null; format: 'v5' | 'v6' | 'env' };
  /** After the DD_API_KEY override; null if absent or only a secret handle. */
  apiKey: string | null;
  apiKeySource: 'file' | 'env' | 'secret_handle' | 'none';
  /** The `ENC[…]` handle when the file's api_key is one (apiKey is then null). */
  secretHandle: string | null;
  /** 1-based line of the file's effective api_key setting, for messages; null if none. */
  apiKeyLine: number | null;
  site: string | null;
  /** Resolved: DD_DD_URL / DD_URL / dd_url, else https://api.<site>, default https://api.datadoghq.com. */
  intakeUrl: string;
  hostname: string | null;
  tags: string[];
  /** Default 8125. */
  dogstatsdPort: number;
  /** Default false. */
  dogstatsdNonLocalTraffic: boolean;
  /** `dogstatsd_so_rcvbuf`: the DogStatsD socket's receive buffer in bytes; null = rekey-agent's default. */
  dogstatsdSoRcvbuf: number | null;
  /** `queue_memory_buffer_bytes`: memory for payloads the run path refuses; null = the default (4 MiB). */
  queueMemoryBufferBytes: number | null;
  /** `{ "https://url": ["key", …] }`: every key also receives the data. */
  additionalEndpoints: Record<string, string[]>;
}

export interface LoadAgentSettingsOptions {
  /** The config file; when omitted, the platform's default paths are tried (first existing). */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Overrides the platform default paths (tests). */
  defaultPaths?: string[];
}

/** What a config file says, before the environment is applied. */
export interface FileSettings {
  apiKey: string | null;
  apiKeyLine: number | null;
  site: string | null;
  ddUrl: string | null;
  hostname: string | null;
  tags: string[];
  dogstatsdPort: number | null;
  dogstatsdNonLocalTraffic: boolean | null;
  dogstatsdSoRcvbuf: number | null;
  queueMemoryBufferBytes: number | null;
  additionalEndpoints: Record<string, string[]>;
}

export const DEFAULT_INTAKE_URL = 'https://api.datadoghq.com';
export const DEFAULT_DOGSTATSD_PORT = 8125;
const SECRET_HANDLE = /^ENC\[.*\]$/;

export function loadAgentSettings(options: LoadAgentSettingsOptions = {}): AgentSettings {
  const env = options.env ?? process.env;
  const file = options.file ?? findDefaultConfig(options.defaultPaths);
  let format: AgentSettings['source']['format'] = 'env';
  let fromFile: FileSettings = emptyFileSettings();
  if (file !== null) {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (error) {
      throw rekeyError('CONFIG_UNREADABLE', { file, reason: describeFsError(error) }, { cause: error });
    }
    const text = data.toString('utf8');
    format = detectConfigFormat(text);
    fromFile = format === 'v5' ? readV5Settings(text, file) : readV6Settings(text, file);
  }
  return applyEnv(fromFile, env, { file, format });
}

/** Parses a config file's text into its settings; throws CONFIG_LINE_INVALID with the line. */
export function readFileSettings(text: string, file: string): FileSettings & { format: 'v5' | 'v6' } {
  const format = detectConfigFormat(text);
  return { format, ...(format === 'v5' ? readV5Settings(text, file) : readV6Settings(text, file)) };
}

function emptyFileSettings(): FileSettings {
  return {
    apiKey: null,
    apiKeyLine: null,
    site: null,
    ddUrl: null,
    hostname: null,
    tags: [],
    dogstatsdPort: null,
    dogstatsdNonLocalTraffic: null,
    dogstatsdSoRcvbuf: null,
    queueMemoryBufferBytes: null,
    additionalEndpoints: {},
  };
}

function readV5Settings(text: string, file: string): FileSettings {
  const ini = parseV5Ini(splitConfigText(text), file);
  const get = (key: string) => ini.get('Main', key);
  const settings = emptyFileSettings();
  const apiKey = get('api_key');
  const ddUrl = get('dd_url');
  settings.apiKeyLine = apiKey?.line ?? null;
  settings.ddUrl = nonEmpty(ddUrl?.value);
  // v5 sends to several endpoints with comma-separated api_key and dd_url lists, paired.
  const keys = (apiKey?.value ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
  settings.apiKey = keys[0] ?? null;
  if (keys.length > 1) {
    const urls = (ddUrl?.value ?? '')
      .split(',')
      .map((u) => u.trim())
      .filter((u) => u !== '');
    if (urls.length !== keys.length) {
      throw rekeyError('CONFIG_LINE_INVALID', {
        file,
        line: apiKey!.line,
        detail: `api_key lists ${keys.length} keys but dd_url lists ${urls.length} URLs; give one URL per key`,
      });
    }
    settings.ddUrl = urls[0]!;
    urls.slice(1).forEach((url, i) => addEndpointKey(settings.additionalEndpoints, url, keys[i + 1]!));
  }
  settings.site = nonEmpty(get('site')?.value);
  settings.hostname = nonEmpty(get('hostname')?.value);
  const tags = get('tags');
  if (tags) settings.tags = splitTags(tags.value, /[,\n]/);
  const port = get('dogstatsd_port');
  if (port && port.value !== '') settings.dogstatsdPort = parsePort(port.value, `${file}, line ${port.line}`, file, port.line);
  const nonLocal = get('non_local_traffic') ?? get('dogstatsd_non_local_traffic');
  if (nonLocal && nonLocal.value !== '') settings.dogstatsdNonLocalTraffic = /^(true|yes|1|on)$/i.test(nonLocal.value);
  for (const [name, field] of BYTE_SETTINGS) {
    const entry = get(name);
    if (entry && entry.value !== '') settings[field] = parseBytes(entry.value, name, file, entry.line);
  }
  const endpoints = get('additional_endpoints');
  if (endpoints && endpoints.value !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(endpoints.value);
    } catch {
      parsed = undefined;
    }
    const map = endpointMap(parsed);
    if (map === undefined) {
      throw rekeyError('CONFIG_LINE_INVALID', {
        file,
        line: endpoints.line,
        detail: 'additional_endpoints must be JSON like {"https://app.datadoghq.com": ["KEY"]}',
      });
    }
    for (const [url, list] of Object.entries(map)) for (const key of list) addEndpointKey(settings.additionalEndpoints, url, key);
  }
  return settings;
}

function readV6Settings(text: string, file: string): FileSettings {
  const yaml = parseV6Yaml(text, file);
  const settings = emptyFileSettings();
  const invalid = (node: Node | null | undefined, detail: string) => rekeyError('CONFIG_LINE_INVALID', { file, line: yaml.lineOf(node), detail });
  const text1 = (key: string): string | null => {
    const pair = yaml.pair(key);
    if (!pair) return null;
    const value = scalarText(pair.value);
    if (value === undefined) throw invalid(pair.value, `${key} must be a single value`);
    return nonEmpty(value);
  };
  const apiKeyPair = yaml.pair('api_key');
  settings.apiKey = text1('api_key');
  settings.apiKeyLine = apiKeyPair ? yaml.lineOf(apiKeyPair.key) : null;
  settings.site = text1('site');
  settings.ddUrl = text1('dd_url');
  settings.hostname = text1('hostname');
  const tags = yaml.pair('tags');
  if (tags && tags.value !== null) {
    const list = stringList(tags.value);
    const single = scalarText(tags.value);
    if (list) settings.tags = list.map((t) => t.trim()).filter((t) => t !== '');
    else if (typeof single === 'string') settings.tags = splitTags(single, /[\s,]+/);
    else if (single !== null) throw invalid(tags.value, 'tags must be a list like ["env:prod", "team:web"]');
  }
  const port = text1('dogstatsd_port');
  if (port !== null) settings.dogstatsdPort = parsePort(port, '', file, yaml.lineOf(yaml.pair('dogstatsd_port')?.value));
  const nonLocal = yaml.pair('dogstatsd_non_local_traffic');
  if (nonLocal && isScalar(nonLocal.value) && nonLocal.value.value !== null) {
    const value = nonLocal.value.value;
    settings.dogstatsdNonLocalTraffic = value === true || /^(true|yes|1|on)$/i.test(String(value));
  }
  for (const [name, field] of BYTE_SETTINGS) {
    const value = text1(name);
    if (value !== null) settings[field] = parseBytes(value, name, file, yaml.lineOf(yaml.pair(name)?.value));
  }
  const endpoints = yaml.pair('additional_endpoints');
  if (endpoints && endpoints.value !== null && !(isScalar(endpoints.value) && endpoints.value.value === null)) {
    if (!isMap(endpoints.value)) throw invalid(endpoints.value, 'additional_endpoints must map URLs to lists of keys');
    for (const item of endpoints.value.items) {
      const url = scalarText(item.key as Node);
      const value = item.value as Node | null;
      const keys = stringList(value) ?? (typeof scalarText(value) === 'string' ? [scalarText(value) as string] : undefined);
      if (typeof url !== 'string' || keys === undefined) {
        throw invalid(
          (item.key as Node) ?? endpoints.value,
          'additional_endpoints must map each URL to a list of keys, like "https://app.datadoghq.com": [KEY]',
        );
      }
      for (const key of keys) addEndpointKey(settings.additionalEndpoints, url, key);
    }
  }
  return settings;
}

function applyEnv(fromFile: FileSettings, env: NodeJS.ProcessEnv, source: AgentSettings['source']): AgentSettings {
  const envValue = (name: string) => nonEmpty(env[name]);
  let apiKey: string | null = fromFile.apiKey;
  let apiKeySource: AgentSettings['apiKeySource'] = apiKey === null ? 'none' : 'file';
  let secretHandle: string | null = null;
  if (apiKey !== null && SECRET_HANDLE.test(apiKey)) {
    secretHandle = apiKey;
    apiKey = null;
    apiKeySource = 'secret_handle';
  }
  const envKey = envValue('DD_API_KEY');
  if (envKey !== null) {
    apiKey = envKey;
    apiKeySource = 'env';
    secretHandle = null;
  }
  const site = envValue('DD_SITE') ?? fromFile.site;
  const explicitUrl = envValue('DD_DD_URL') ?? envValue('DD_URL') ?? fromFile.ddUrl;
  const intakeUrl = (explicitUrl ?? (site !== null ? `https://api.${site}` : DEFAULT_INTAKE_URL)).replace(/\/+$/, '');
  const envTags = envValue('DD_TAGS');
  const envPort = envValue('DD_DOGSTATSD_PORT');
  const envNonLocal = envValue('DD_DOGSTATSD_NON_LOCAL_TRAFFIC');
  let additionalEndpoints = fromFile.additionalEndpoints;
  const envEndpoints = envValue('DD_ADDITIONAL_ENDPOINTS');
  if (envEndpoints !== null) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(envEndpoints);
    } catch {
      parsed = undefined;
    }
    const map = endpointMap(parsed);
    if (map === undefined) {
      throw rekeyError('CONFIG_INVALID', {
        detail: 'DD_ADDITIONAL_ENDPOINTS must be JSON like {"https://app.datadoghq.com": ["KEY"]}',
      });
    }
    additionalEndpoints = map;
  }
  return {
    source,
    apiKey,
    apiKeySource,
    secretHandle,
    apiKeyLine: apiKeySource === 'env' ? null : fromFile.apiKeyLine,
    site,
    intakeUrl,
    hostname: envValue('DD_HOSTNAME') ?? fromFile.hostname,
    tags: envTags !== null ? splitTags(envTags, /\s+/) : fromFile.tags,
    dogstatsdPort: envPort !== null ? parsePort(envPort, 'DD_DOGSTATSD_PORT', null, null) : (fromFile.dogstatsdPort ?? DEFAULT_DOGSTATSD_PORT),
    dogstatsdNonLocalTraffic: envNonLocal !== null ? /^(true|yes|1|on)$/i.test(envNonLocal) : (fromFile.dogstatsdNonLocalTraffic ?? false),
    dogstatsdSoRcvbuf: byteSettingFromEnv(env, 'dogstatsd_so_rcvbuf') ?? fromFile.dogstatsdSoRcvbuf,
    queueMemoryBufferBytes: byteSettingFromEnv(env, 'queue_memory_buffer_bytes') ?? fromFile.queueMemoryBufferBytes,
    additionalEndpoints,
  };
}

function parsePort(raw: string, envName: string, file: string | null, line: number | null): number {
  const port = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (Number.isInteger(port) && port >= 1 && port <= 65535) return port;
  const detail = 'dogstatsd_port must be a whole number from 1 to 65535';
  if (file !== null && line !== null) throw rekeyError('CONFIG_LINE_INVALID', { file, line, detail });
  throw rekeyError('CONFIG_INVALID', { detail: `${envName}: ${detail}` });
}

/** Agent settings that are a number of bytes: the config key and its field. */
const BYTE_SETTINGS = [
  ['dogstatsd_so_rcvbuf', 'dogstatsdSoRcvbuf'],
  ['queue_memory_buffer_bytes', 'queueMemoryBufferBytes'],
] as const;

/** A whole number of bytes, 0 to 1 GiB. */
function parseBytes(raw: string, name: string, file: string | null, line: number | null): number {
  const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (Number.isSafeInteger(n) && n <= 2 ** 30) return n;
  const detail = `${name} must be a whole number of bytes from 0 to 1073741824`;
  if (file !== null && line !== null) throw rekeyError('CONFIG_LINE_INVALID', { file, line, detail });
  throw rekeyError('CONFIG_INVALID', { detail: `DD_${name.toUpperCase()}: ${detail}` });
}

/** `DD_DOGSTATSD_SO_RCVBUF`, `DD_QUEUE_MEMORY_BUFFER_BYTES`. */
function byteSettingFromEnv(env: NodeJS.ProcessEnv, name: string): number | null {
  const raw = nonEmpty(env[`DD_${name.toUpperCase()}`]);
  return raw === null ? null : parseBytes(raw, name, null, null);
}

function endpointMap(value: unknown): Record<string, string[]> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const out: Record<string, string[]> = {};
  for (const [url, keys] of Object.entries(value)) {
    const list = typeof keys === 'string' ? [keys] : keys;
    if (!Array.isArray(list) || !list.every((k) => typeof k === 'string')) return undefined;
    out[url] = list as string[];
  }
  return out;
}

function addEndpointKey(map: Record<string, string[]>, url: string, key: string): void {
  const list = (map[url] ??= []);
  if (!list.includes(key)) list.push(key);
}

function splitTags(value: string, separator: RegExp): string[] {
  return value
    .split(separator)
    .map((t) => t.trim())
    .filter((t) => t !== '');
}

function nonEmpty(value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  return value.trim() === '' ? null : value;
}

/** A file-system error as a short reason: "no such file", "permission denied". */
export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return "permission denied (run as the Agent's user or with sudo)";
    case 'EISDIR':
      return 'it is a directory, not a file';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}
