/**
 * `rekey config validate`: the mistakes people make by hand when they paste a key into a
 * Datadog config file, each reported with its line and the fix. The scan is line-based and
 * lenient on purpose: a file the Agent cannot parse still gets every other finding.
 *
 * @example
 *   const report = await validateConfigFile('/etc/dd-agent/datadog.conf');
 *   report.problems[0]; // { line: 12, code: 'quoted', message: 'api_key is …', fix: 'write …' }
 */
import { promises as fs } from 'node:fs';
import { isRekeyError, rekeyError } from '../errors.js';
import { parseKey } from '../keys/key-format.js';
import { describeFsError, readFileSettings } from './agent-settings.js';
import { detectConfigFormat, type ConfigFormat } from './config-format.js';
import { plainText, splitConfigText, type ConfigText } from './config-text.js';

export type ProblemCode =
  | 'unparsable'
  | 'quoted'
  | 'no_space_after_colon'
  | 'tab'
  | 'outside_main'
  | 'nested'
  | 'duplicate'
  | 'empty'
  | 'placeholder'
  | 'malformed_key'
  | 'missing'
  | 'world_readable';

export interface ConfigProblem {
  /** 1-based line, or null for the file as a whole. */
  line: number | null;
  code: ProblemCode;
  message: string;
  fix: string;
}

export interface ValidationReport {
  file: string;
  format: ConfigFormat;
  problems: ConfigProblem[];
}

const PLACEHOLDER =
  /^(youshouldsetthis|<[^>]*>|\$\{?[A-Z_]+\}?|your[_-]?(api[_-]?)?key([_-]?here)?|api[_-]?key[_-]?here|changeme|replace[_-]?me|x{4,}|\*{4,}|\.\.\.)$/i;
const SECRET_HANDLE = /^ENC\[.*\]$/;

export async function validateConfigFile(file: string, options: { env?: NodeJS.ProcessEnv } = {}): Promise<ValidationReport> {
  let data: Buffer;
  let mode: number;
  try {
    data = await fs.readFile(file);
    mode = (await fs.stat(file)).mode;
  } catch (error) {
    throw rekeyError('CONFIG_UNREADABLE', { file, reason: describeFsError(error) }, { cause: error });
  }
  const text = splitConfigText(data);
  const report = validateConfigText(text, file, options.env ?? process.env);
  if (process.platform !== 'win32' && (mode & 0o004) !== 0) {
    report.problems.push({
      line: null,
      code: 'world_readable',
      message: `${file} is readable by every user on this host (mode ${(mode & 0o777).toString(8).padStart(4, '0')}) and holds the API key`,
      fix: `chmod o-rwx ${file}  (the Agent's user or group keeps access)`,
    });
  }
  return report;
}

/** The line-level checks, without the file system (for tests and for `config show`). */
export function validateConfigText(text: ConfigText, file: string, env: NodeJS.ProcessEnv = {}): ValidationReport {
  const source = plainText(text);
  const format = detectConfigFormat(source);
  const problems: ConfigProblem[] = [];
  const topLevel: number[] = [];
  const others: Array<{ index: number; where: string }> = [];
  let section: string | null = null;
  text.lines.forEach((line, index) => {
    const content = line.content;
    if (format === 'v5') {
      const header = /^\[([^\]]+)\]/.exec(content);
      if (header) section = header[1]!;
      if (/^\s*[#;]/.test(content)) return;
      if (!/^\s*api_key\s*[:=]/i.test(content)) return;
      if (section === 'Main' && !/^\s/.test(content)) topLevel.push(index);
      else others.push({ index, where: section === null ? 'before any [section]' : `in [${section}]` });
    } else {
      if (/^\s*#/.test(content)) return;
      if (/^api_key\s*:/.test(content)) topLevel.push(index);
      else if (/^\s+(-\s+)?api_key\s*:/.test(content)) others.push({ index, where: 'indented under another setting' });
    }
  });

  for (const other of others) {
    if (format === 'v5') {
      problems.push({
        line: other.index + 1,
        code: 'outside_main',
        message: `api_key is ${other.where}; the Agent reads it only from [Main]`,
        fix: 'move the line under the [Main] header (and delete it here)',
      });
    } else if (topLevel.length === 0) {
      problems.push({
        line: other.index + 1,
        code: 'nested',
        message: `api_key is ${other.where}; the Agent reads the top-level api_key`,
        fix: 'write "api_key: KEY" at the start of a line, outside any other setting',
      });
    }
  }
  if (topLevel.length > 1) {
    for (const index of topLevel.slice(1)) {
      problems.push({
        line: index + 1,
        code: 'duplicate',
        message: `api_key is set again (first on line ${topLevel[0]! + 1})`,
        fix: 'keep one api_key line and delete the others',
      });
    }
  }
  for (const index of topLevel) problems.push(...checkApiKeyLine(text.lines[index]!.content, index + 1, format));

  try {
    const settings = readFileSettings(source, file);
    if (topLevel.length === 0 && settings.apiKey === null && !env.DD_API_KEY) {
      problems.push({
        line: null,
        code: 'missing',
        message: format === 'v5' ? 'there is no api_key in [Main]' : 'there is no top-level api_key',
        fix: "rekey config set-api-key --key-stdin < key-file  (or set DD_API_KEY in the Agent's environment)",
      });
    }
    for (const [url, keys] of Object.entries(settings.additionalEndpoints)) {
      for (const key of keys) {
        if (SECRET_HANDLE.test(key)) continue;
        const check = parseKey(key, 'api');
        if (!check.ok) {
          problems.push({
            line: lineOf(text, format === 'v5' ? /^additional_endpoints\s*[:=]/ : /^additional_endpoints\s*:/),
            code: 'malformed_key',
            message: `additional_endpoints for ${url}: ${check.message}`,
            fix: 'paste the key again from the key service, or remove it with rekey config set-api-key --remove-key',
          });
        }
      }
    }
  } catch (error) {
    if (!isRekeyError(error)) throw error;
    const match = /, line (\d+): (.*)$/.exec(error.message);
    const line = match ? Number(match[1]) : null;
    if (!problems.some((p) => p.line === line)) {
      problems.push({
        line,
        code: 'unparsable',
        message: match ? match[2]! : error.message,
        fix: 'correct the line; the Agent will not start with this file',
      });
    }
  }
  problems.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
  return { file, format, problems };
}

function checkApiKeyLine(content: string, line: number, format: ConfigFormat): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const problem = (code: ProblemCode, message: string, fix: string) => problems.push({ line, code, message, fix });
  const match = /^\s*api_key([ \t]*)([:=])(.*)$/i.exec(content)!;
  let rest = match[3]!;
  if (/\t/.test(content)) problem('tab', 'the api_key line contains a tab', 'use exactly one space: "api_key: KEY"');
  if (rest !== '' && !/^[ \t]/.test(rest)) {
    problem(
      'no_space_after_colon',
      format === 'v6' ? 'there is no space after "api_key:", so YAML reads the whole line as text, not a setting' : 'there is no space after the colon',
      'write "api_key: KEY" with one space after the colon',
    );
  }
  // Inline comments: YAML's " #", ConfigParser's " ;".
  rest = rest.replace(format === 'v6' ? /\s+#.*$/ : /\s;.*$/, '').trim();
  if (rest === '') {
    problem('empty', 'api_key is empty', 'rekey config set-api-key --key-stdin < key-file');
    return problems;
  }
  if (SECRET_HANDLE.test(rest)) return problems; // resolved by the secrets backend; not ours to judge
  const quote = rest[0];
  if ((quote === '"' || quote === "'") && rest.length >= 2 && rest.endsWith(quote)) {
    problem('quoted', 'api_key is surrounded by quotes', 'remove the quotes: "api_key: KEY"');
    rest = rest.slice(1, -1);
  }
  if (PLACEHOLDER.test(rest)) {
    problem('placeholder', 'api_key is still the placeholder from the example file', 'rekey config set-api-key --key-stdin < key-file');
    return problems;
  }
  const check = parseKey(rest, 'api');
  if (!check.ok && check.reason !== 'quoted') {
    problem('malformed_key', check.message, 'paste the key again from the key service (rekey config set-api-key --key-stdin)');
  }
  return problems;
}

function lineOf(text: ConfigText, pattern: RegExp): number | null {
  const index = text.lines.findIndex((line) => pattern.test(line.content));
  return index >= 0 ? index + 1 : null;
}
