/**
 * `rekey config show`: which API key the Agent on this host will use and where it comes
 * from, masked to its last 4, with the intake it goes to and every problem found.
 */
import { isRekeyError } from '../errors.js';
import { last4, maskKey, parseKey } from '../keys/key-format.js';
import { loadAgentSettings, type AgentSettings } from './agent-settings.js';
import { validateConfigFile, type ConfigProblem } from './config-validator.js';

export interface ConfigShowReport {
  file: string | null;
  format: 'v5' | 'v6' | 'env' | null;
  apiKey: {
    source: AgentSettings['apiKeySource'];
    /** Last 4 characters only; null when there is no key. */
    last4: string | null;
    masked: string | null;
    line: number | null;
    secretHandle: string | null;
    /** The file also has an api_key, which DD_API_KEY overrides. */
    fileKeyOverridden: boolean;
  };
  site: string | null;
  intakeUrl: string | null;
  hostname: string | null;
  tags: string[];
  dogstatsdPort: number | null;
  additionalEndpoints: Record<string, string[]>;
  problems: ConfigProblem[];
  /** The human-readable rendering (not part of --json). */
  text: string;
}

export async function showConfig(file: string | null, env: NodeJS.ProcessEnv): Promise<ConfigShowReport> {
  let settings: AgentSettings | null = null;
  let fileOnly: AgentSettings | null = null;
  const problems: ConfigProblem[] = [];
  try {
    settings = loadAgentSettings({ file: file ?? undefined, env, defaultPaths: [] });
    fileOnly = file === null ? null : loadAgentSettings({ file, env: {} });
  } catch (error) {
    if (!isRekeyError(error) || error.code === 'CONFIG_UNREADABLE') throw error;
    if (file === null) throw error; // an environment variable is wrong: its message says which
  }
  if (file !== null) problems.push(...(await validateConfigFile(file, { env })).problems);
  const envKey = env.DD_API_KEY;
  if (envKey) {
    const check = parseKey(envKey, 'api');
    if (!check.ok)
      problems.push({
        line: null,
        code: 'malformed_key',
        message: `DD_API_KEY: ${check.message}`,
        fix: 'set DD_API_KEY to the key exactly as the key service showed it',
      });
  } else if (file === null) {
    problems.push({
      line: null,
      code: 'missing',
      message: 'no config file and no DD_API_KEY',
      fix: "give --file, or set DD_API_KEY in the Agent's environment",
    });
  }
  const key = settings?.apiKey ?? null;
  const report: Omit<ConfigShowReport, 'text'> = {
    file,
    format: settings?.source.format ?? null,
    apiKey: {
      source: settings?.apiKeySource ?? 'none',
      last4: key ? last4(key) : null,
      masked: key ? maskKey(key) : null,
      line: settings?.apiKeyLine ?? null,
      secretHandle: settings?.secretHandle ?? null,
      fileKeyOverridden: settings?.apiKeySource === 'env' && fileOnly?.apiKeySource !== undefined && fileOnly.apiKeySource !== 'none',
    },
    site: settings?.site ?? null,
    intakeUrl: settings?.intakeUrl ?? null,
    hostname: settings?.hostname ?? null,
    tags: settings?.tags ?? [],
    dogstatsdPort: settings?.dogstatsdPort ?? null,
    additionalEndpoints: Object.fromEntries(Object.entries(settings?.additionalEndpoints ?? {}).map(([url, keys]) => [url, keys.map((k) => maskKey(k))])),
    problems,
  };
  return { ...report, text: renderShow(report) };
}

function renderShow(report: Omit<ConfigShowReport, 'text'>): string {
  const formatName = { v5: 'Agent v5 datadog.conf', v6: 'Agent v6/7 datadog.yaml', env: 'environment only' } as const;
  const lines: Array<[string, string]> = [];
  lines.push(['config file', report.file === null ? '(none)' : `${report.file}${report.format ? ` (${formatName[report.format]})` : ''}`]);
  const key = report.apiKey;
  const where =
    key.source === 'env'
      ? `from DD_API_KEY${key.fileKeyOverridden ? ' (overrides the api_key in the file)' : ''}`
      : key.source === 'file'
        ? `from the file, line ${key.line}`
        : key.source === 'secret_handle'
          ? `secret handle ${key.secretHandle} on line ${key.line}, resolved by the Agent's secret_backend_command`
          : 'not set';
  lines.push(['api key', key.masked ? `${key.masked}  ${where}` : where]);
  lines.push(['site', report.site ?? '(default datadoghq.com)']);
  lines.push(['intake URL', report.intakeUrl ?? '(unknown: the file does not parse)']);
  lines.push(['hostname', report.hostname ?? '(auto-detected)']);
  if (report.tags.length > 0) lines.push(['tags', report.tags.join(', ')]);
  for (const [url, keys] of Object.entries(report.additionalEndpoints)) lines.push(['also sends to', `${url} with ${keys.join(', ')}`]);
  const width = Math.max(...lines.map(([label]) => label.length)) + 2;
  let text = lines.map(([label, value]) => `${`${label}:`.padEnd(width)}${value}\n`).join('');
  if (report.problems.length === 0) text += 'problems: none\n';
  else {
    text += `problems (${report.problems.length}):\n`;
    for (const p of report.problems) text += `  ${p.line === null ? 'file' : `line ${p.line}`}: ${p.message}\n    fix: ${p.fix}\n`;
  }
  return text;
}
