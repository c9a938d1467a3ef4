/**
 * The rotation inventory: which hosts run an agent and how to reach each one.
 *
 * A YAML file with `hosts:` (a list) and optional `defaults:` merged into every host.
 * Each host has a `name` that must be the hostname its agent reports (rotation verifies a
 * host by finding that name in the new key's host usage) and a `transport`:
 *
 * ```yaml
 * defaults:
 *   restart: systemd            # systemctl restart datadog-agent
 * hosts:
 *   - name: web-1
 *     transport: local
 *     config: /etc/datadog-agent/datadog.yaml
 *     restart: sighup:/run/rekey-agent/rekey-agent.pid
 *   - name: web-2
 *     transport: ssh
 *     host: 192.0.2.10
 *     user: root
 *     identity_file: ~/.ssh/id_ed25519
 *     config: /etc/dd-agent/datadog.conf
 *     restart: sysv:datadog-agent
 *   - name: db-1
 *     transport: command
 *     command: [ansible-playbook, -i, hosts, rotate-datadog-key.yml, --limit, db-1]
 * ```
 *
 * Every problem is reported with its line number, all at once, so one edit fixes them all.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLMap } from 'yaml';
import { rekeyError } from '../errors.js';
import { parseDuration } from './duration.js';

export type RestartMethod =
  | { kind: 'sighup'; pidFile: string }
  | { kind: 'systemd'; unit: string }
  | { kind: 'sysv'; name: string }
  | { kind: 'command'; argv: string[] }
  | { kind: 'none' };

interface HostBase {
  /** The hostname the agent reports; rotation verifies the host under this name. */
  name: string;
  /** Line of the host's entry in the inventory, for messages. */
  line: number;
}

export interface LocalHost extends HostBase {
  transport: 'local';
  config: string;
  restart: RestartMethod;
}

export type StrictHostKeyChecking = 'yes' | 'no' | 'accept-new';

export interface SshHost extends HostBase {
  transport: 'ssh';
  host: string;
  port: number;
  user: string | undefined;
  identityFile: string | undefined;
  knownHosts: string | undefined;
  strictHostKeyChecking: StrictHostKeyChecking;
  /** The config file's path on the remote host (absolute). */
  config: string;
  restart: RestartMethod;
  /** `script`: a POSIX sh/awk script (needs nothing on the remote); `rekey`: `rekey config set-api-key`. */
  setKeyWith: 'script' | 'rekey';
  /** Extra `-o Option=value` arguments for ssh. */
  sshOptions: string[];
  timeoutMs: number;
}

export interface CommandHost extends HostBase {
  transport: 'command';
  /** argv of the user's command; the new key is in env REKEY_NEW_API_KEY, never here. */
  command: string[];
  /** argv run when the host fails verification (restore the previous config). */
  rollback: string[] | undefined;
  cwd: string;
  timeoutMs: number;
  /** Optional local path of the config the command writes, read (last 4 only) to verify without host usage. */
  config: string | undefined;
}

export type InventoryHost = LocalHost | SshHost | CommandHost;

export interface Inventory {
  file: string;
  hosts: InventoryHost[];
}

const HOST_FIELDS: Record<InventoryHost['transport'], readonly string[]> = {
  local: ['name', 'transport', 'config', 'restart'],
  ssh: [
    'name',
    'transport',
    'host',
    'port',
    'user',
    'identity_file',
    'known_hosts',
    'strict_host_key_checking',
    'config',
    'restart',
    'set_key_with',
    'ssh_options',
    'timeout',
  ],
  command: ['name', 'transport', 'command', 'rollback', 'cwd', 'timeout', 'config'],
};
const DEFAULT_FIELDS = new Set(
  Object.values(HOST_FIELDS)
    .flat()
    .filter((field) => field !== 'name'),
);
const HOSTNAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

/** Reads and validates an inventory file; throws INVENTORY_INVALID (exit 2) listing every problem. */
export function loadInventory(file: string): Inventory {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw rekeyError('INVENTORY_INVALID', { file, problems: [`cannot read it: ${(error as Error).message}`] });
  }
  return parseInventory(text, file);
}

/** Validates inventory text; relative paths resolve against the inventory's directory. */
export function parseInventory(text: string, file: string): Inventory {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: string[] = [];
  const lineOf = (node: { range?: [number, number, number] | null } | null | undefined): number => (node?.range ? lineCounter.linePos(node.range[0]).line : 1);
  const problem = (line: number, detail: string) => problems.push(`line ${line}: ${detail}`);

  for (const error of doc.errors) problem(lineCounter.linePos(error.pos[0]).line, error.message.split('\n')[0]!);
  if (problems.length > 0) throw rekeyError('INVENTORY_INVALID', { file, problems });

  const root = doc.contents;
  if (!isMap(root)) {
    throw rekeyError('INVENTORY_INVALID', { file, problems: ['line 1: the file must be a mapping with a `hosts:` list'] });
  }
  const baseDir = dirname(resolve(file));
  let defaults = new Map<string, { node: Node; line: number }>();
  const top = fields(root, lineOf);
  for (const [key, { line }] of top) {
    if (key !== 'hosts' && key !== 'defaults') problem(line, `unknown top-level field "${key}" (expected hosts, defaults)`);
  }
  const defaultsEntry = top.get('defaults');
  if (defaultsEntry) {
    if (!isMap(defaultsEntry.node)) problem(defaultsEntry.line, '`defaults` must be a mapping');
    else {
      defaults = fields(defaultsEntry.node, lineOf);
      for (const [key, { line }] of defaults) {
        if (!DEFAULT_FIELDS.has(key)) problem(line, `unknown field "${key}" in defaults`);
      }
    }
  }
  const hostsEntry = top.get('hosts');
  const hosts: InventoryHost[] = [];
  if (!hostsEntry) problem(1, 'missing `hosts:` (a list of hosts)');
  else if (!isSeq(hostsEntry.node)) problem(hostsEntry.line, '`hosts` must be a list');
  else {
    const seen = new Map<string, number>();
    for (const item of hostsEntry.node.items) {
      const itemLine = lineOf(item as Node);
      if (!isMap(item)) {
        problem(itemLine, 'each host must be a mapping with at least `name` and `transport`');
        continue;
      }
      const own = fields(item, lineOf);
      const merged = new Map(defaults);
      for (const [key, value] of own) merged.set(key, value);
      const host = readHost(merged, own, itemLine, baseDir, problem);
      if (!host) continue;
      const earlier = seen.get(host.name);
      if (earlier !== undefined) problem(host.line, `host name "${host.name}" is listed twice (first at line ${earlier})`);
      else seen.set(host.name, host.line);
      hosts.push(host);
    }
    if (hostsEntry.node.items.length === 0) problem(hostsEntry.line, '`hosts` is empty; list at least one host');
  }
  if (problems.length > 0) throw rekeyError('INVENTORY_INVALID', { file, problems });
  return { file: resolve(file), hosts };
}

type Field = { node: Node; line: number };
type Problem = (line: number, detail: string) => void;

function fields(map: YAMLMap, lineOf: (node: Node | null | undefined) => number): Map<string, Field> {
  const out = new Map<string, Field>();
  for (const pair of map.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    out.set(key, { node: pair.value as Node, line: lineOf(pair.key as Node) });
  }
  return out;
}

function readHost(merged: Map<string, Field>, own: Map<string, Field>, line: number, baseDir: string, problem: Problem): InventoryHost | undefined {
  const before = problemCount.value;
  const counting: Problem = (l, d) => {
    problemCount.value++;
    problem(l, d);
  };
  const name = str(merged, 'name', counting, line, true);
  if (name !== undefined && !HOSTNAME.test(name)) counting(merged.get('name')!.line, `host name "${name}" is not a hostname`);
  const transport = str(merged, 'transport', counting, line, true);
  const label = name ? `host "${name}"` : 'host';
  if (transport === undefined) return undefined;
  if (transport !== 'local' && transport !== 'ssh' && transport !== 'command') {
    counting(merged.get('transport')!.line, `${label}: transport must be local, ssh or command (got "${transport}")`);
    return undefined;
  }
  const allowed = new Set(HOST_FIELDS[transport]);
  for (const [key, field] of own) {
    if (!allowed.has(key)) counting(field.line, `${label}: field "${key}" does not apply to transport ${transport} (allowed: ${[...allowed].join(', ')})`);
  }
  const timeout = (fallbackMs: number) => {
    const text = str(merged, 'timeout', counting, line, false);
    if (text === undefined) return fallbackMs;
    const ms = parseDuration(text);
    if (ms === undefined || ms <= 0) {
      counting(merged.get('timeout')!.line, `${label}: timeout "${text}" is not a duration (e.g. 30s, 5m)`);
      return fallbackMs;
    }
    return ms;
  };

  let host: InventoryHost | undefined;
  if (transport === 'local') {
    const config = str(merged, 'config', counting, line, true);
    const restart = restartMethod(merged, counting, line, label, baseDir, true);
    if (config !== undefined && restart) host = { transport, name: name!, line, config: localPath(config, baseDir), restart };
  } else if (transport === 'ssh') {
    const address = str(merged, 'host', counting, line, true);
    const portField = merged.get('port');
    let port = 22;
    if (portField) {
      const value = isScalar(portField.node) ? Number(portField.node.value) : NaN;
      if (!Number.isInteger(value) || value < 1 || value > 65535) counting(portField.line, `${label}: port must be a number 1-65535`);
      else port = value;
    }
    const config = str(merged, 'config', counting, line, true);
    if (config !== undefined && !config.startsWith('/')) {
      counting(merged.get('config')!.line, `${label}: config must be the absolute path of the file on the remote host`);
    }
    const strict = str(merged, 'strict_host_key_checking', counting, line, false) ?? 'yes';
    if (strict !== 'yes' && strict !== 'no' && strict !== 'accept-new') {
      counting(merged.get('strict_host_key_checking')!.line, `${label}: strict_host_key_checking must be yes, no or accept-new`);
    }
    const setKeyWith = str(merged, 'set_key_with', counting, line, false) ?? 'script';
    if (setKeyWith !== 'script' && setKeyWith !== 'rekey') {
      counting(merged.get('set_key_with')!.line, `${label}: set_key_with must be script (POSIX sh/awk) or rekey`);
    }
    const identity = str(merged, 'identity_file', counting, line, false);
    const knownHosts = str(merged, 'known_hosts', counting, line, false);
    const sshOptions = argv(merged, 'ssh_options', counting, line, label, false) ?? [];
    for (const option of sshOptions) {
      if (!/^[A-Za-z]+=\S+$/.test(option)) counting(merged.get('ssh_options')!.line, `${label}: ssh_options entries look like Option=value`);
    }
    const restart = restartMethod(merged, counting, line, label, undefined, true);
    const timeoutMs = timeout(120_000);
    if (address !== undefined && config !== undefined && restart) {
      host = {
        transport,
        name: name!,
        line,
        host: address,
        port,
        user: str(merged, 'user', counting, line, false),
        identityFile: identity === undefined ? undefined : localPath(identity, baseDir),
        knownHosts: knownHosts === undefined ? undefined : localPath(knownHosts, baseDir),
        strictHostKeyChecking: strict as StrictHostKeyChecking,
        config,
        restart,
        setKeyWith: setKeyWith as 'script' | 'rekey',
        sshOptions,
        timeoutMs,
      };
    }
  } else {
    const command = argv(merged, 'command', counting, line, label, true);
    const rollback = argv(merged, 'rollback', counting, line, label, false);
    const cwd = str(merged, 'cwd', counting, line, false);
    const config = str(merged, 'config', counting, line, false);
    const timeoutMs = timeout(600_000);
    if (command) {
      host = {
        transport,
        name: name!,
        line,
        command,
        rollback,
        cwd: cwd === undefined ? baseDir : localPath(cwd, baseDir),
        timeoutMs,
        config: config === undefined ? undefined : localPath(config, baseDir),
      };
    }
  }
  return problemCount.value === before ? host : undefined;
}
// Counts problems found for the host being read (readHost is synchronous, so a module counter is safe).
const problemCount = { value: 0 };

function str(map: Map<string, Field>, key: string, problem: Problem, line: number, required: boolean): string | undefined {
  const field = map.get(key);
  if (!field || (isScalar(field.node) && field.node.value === null)) {
    if (required) problem(line, `${key} is required${key === 'name' ? '' : ` (host at line ${line})`}`);
    return undefined;
  }
  if (!isScalar(field.node) || typeof field.node.value === 'object') {
    problem(field.line, `${key} must be a single value`);
    return undefined;
  }
  const value = String(field.node.value);
  if (value.trim() === '') {
    problem(field.line, `${key} is empty`);
    return undefined;
  }
  return value;
}

function argv(map: Map<string, Field>, key: string, problem: Problem, line: number, label: string, required: boolean): string[] | undefined {
  const field = map.get(key);
  if (!field) {
    if (required) problem(line, `${label}: ${key} is required (an argv list, e.g. [ansible-playbook, site.yml])`);
    return undefined;
  }
  if (!isSeq(field.node) || field.node.items.length === 0 || !field.node.items.every((item) => isScalar(item) && item.value !== null)) {
    problem(field.line, `${label}: ${key} must be a non-empty list of strings (argv, no shell)`);
    return undefined;
  }
  return field.node.items.map((item) => String((item as { value: unknown }).value));
}

function restartMethod(
  map: Map<string, Field>,
  problem: Problem,
  line: number,
  label: string,
  baseDir: string | undefined,
  required: boolean,
): RestartMethod | undefined {
  const field = map.get('restart');
  if (!field) {
    if (required) problem(line, `${label}: restart is required (sighup:<pidfile>, systemd[:unit], sysv[:name], command: [...], or none)`);
    return undefined;
  }
  if (isMap(field.node)) {
    const inner = fields(field.node, () => field.line);
    const command = inner.get('command');
    if (inner.size !== 1 || !command) {
      problem(field.line, `${label}: restart as a mapping must be { command: [argv…] }`);
      return undefined;
    }
    const list = argv(inner, 'command', problem, field.line, label, true);
    return list ? { kind: 'command', argv: list } : undefined;
  }
  if (!isScalar(field.node) || typeof field.node.value !== 'string') {
    problem(field.line, `${label}: restart must be sighup:<pidfile>, systemd[:unit], sysv[:name], none, or { command: [...] }`);
    return undefined;
  }
  const text = field.node.value;
  const colon = text.indexOf(':');
  const kind = colon < 0 ? text : text.slice(0, colon);
  const arg = colon < 0 ? '' : text.slice(colon + 1);
  switch (kind) {
    case 'none':
      if (arg === '') return { kind: 'none' };
      break;
    case 'systemd':
      if (/^[A-Za-z0-9@._-]*$/.test(arg)) return { kind: 'systemd', unit: arg || 'datadog-agent' };
      break;
    case 'sysv':
      if (/^[A-Za-z0-9._-]*$/.test(arg)) return { kind: 'sysv', name: arg || 'datadog-agent' };
      break;
    case 'sighup':
      if (arg !== '') return { kind: 'sighup', pidFile: baseDir ? localPath(arg, baseDir) : arg };
      problem(field.line, `${label}: sighup needs the agent's pid file: sighup:/run/rekey-agent/rekey-agent.pid`);
      return undefined;
  }
  problem(field.line, `${label}: restart "${text}" is not one of sighup:<pidfile>, systemd[:unit], sysv[:name], none, { command: [...] }`);
  return undefined;
}

function localPath(path: string, baseDir: string): string {
  if (path === '~') return homedir();
  if (path.startsWith('~/')) return resolve(homedir(), path.slice(2));
  return isAbsolute(path) ? path : resolve(baseDir, path);
}
