/**
 * Edits the api_key of a Datadog Agent config file as text, one line at a time, so that no
 * other byte changes: comments, order, CRLF or LF, a BOM, the final newline and the other
 * sections are joined back exactly as they were. The parsers (RawConfigParser rules for v5,
 * the `yaml` Document for v6/7) only locate the line; the edit itself is a line replacement
 * or insertion, and every edit is re-parsed and checked before anyone writes it.
 *
 * @example
 *   const edit = planApiKeyEdit(splitConfigText(buffer), newKey, { file: 'datadog.yaml' });
 *   joinConfigText(edit.after); // the new bytes; edit.hunk describes the one changed line
 */
import { isMap, isScalar } from 'yaml';
import { rekeyError } from '../errors.js';
import { readFileSettings } from './agent-settings.js';
import { detectConfigFormat, type ConfigFormat } from './config-format.js';
import { plainText, type ConfigLine, type ConfigText } from './config-text.js';
import { isIniCommentOrBlank, parseV5Ini } from './v5-ini.js';
import { parseV6Yaml, scalarText, type YamlFile } from './v6-yaml.js';

/** A contiguous replacement: `deleted` old lines at `start` become `inserted` lines. */
export interface Hunk {
  /** 0-based index of the first affected line in the old text. */
  start: number;
  deleted: ConfigLine[];
  inserted: ConfigLine[];
}

export interface ConfigEdit {
  format: ConfigFormat;
  before: ConfigText;
  after: ConfigText;
  hunk: Hunk;
  /** What happened to the api_key line. */
  action: 'replaced' | 'inserted' | 'unchanged' | 'endpoints';
}

export interface EditOptions {
  /** Used in messages only. */
  file: string;
  /** Replace an `ENC[…]` secret handle with a plain key. */
  force?: boolean;
}

const SECRET_HANDLE = /^ENC\[.*\]$/;
const OPTION = /^([^:=\s][^:=]*?)\s*([:=])\s*(.*)$/;
/** Top-level settings of datadog.yaml; one of them (or a commented api_key) marks a Datadog config. */
const DATADOG_SETTINGS = new Set([
  'api_key',
  'site',
  'dd_url',
  'hostname',
  'tags',
  'env',
  'additional_endpoints',
  'logs_enabled',
  'logs_config',
  'apm_config',
  'process_config',
  'dogstatsd_port',
  'dogstatsd_non_local_traffic',
  'log_level',
  'proxy',
  'secret_backend_command',
  'cmd_port',
  'hostname_fqdn',
  'cloud_provider_metadata',
  'use_dogstatsd',
  'bind_host',
]);

/** The location of the settings block an edit works on. */
interface Located {
  format: ConfigFormat;
  /** 0-based index of the active api_key line, or -1. */
  apiKeyIndex: number;
  /** Where to insert a missing api_key line: after this 0-based index (-1: at the top). */
  insertAfter: number;
  /** The current value of api_key, as the Agent reads it. */
  currentValue: string | null;
  /** Text kept after the value on the api_key line (a YAML `# comment`). */
  trailing: string;
  yaml?: YamlFile;
  /** v5: 0-based range of the [Main] section (header index, exclusive end). */
  main?: { header: number; end: number };
}

/** Plans writing `api_key: KEY` into the config text. The key must already be validated. */
export function planApiKeyEdit(text: ConfigText, key: string, options: EditOptions): ConfigEdit {
  const located = locate(text, options);
  if (located.currentValue !== null && SECRET_HANDLE.test(located.currentValue) && !options.force) {
    throw rekeyError('CONFIG_SECRET_HANDLE', { file: options.file, line: located.apiKeyIndex + 1 });
  }
  const content = `api_key: ${key}`;
  let hunk: Hunk;
  let action: ConfigEdit['action'];
  if (located.apiKeyIndex >= 0) {
    const old = text.lines[located.apiKeyIndex]!;
    const replacement = { content: content + located.trailing, eol: old.eol };
    action = replacement.content === old.content ? 'unchanged' : 'replaced';
    hunk = { start: located.apiKeyIndex, deleted: [old], inserted: [replacement] };
  } else {
    hunk = insertLine(text, located.insertAfter, content);
    action = 'inserted';
  }
  const edit: ConfigEdit = { format: located.format, before: text, after: applyHunk(text, hunk), hunk, action };
  verifyEdit(edit, options.file, (settings) => settings.apiKey === key, 'api_key');
  return edit;
}

/**
 * Plans rewriting `additional_endpoints` to `endpoints` (an empty map removes the setting).
 * v6/7: a YAML block; v5: one JSON line in [Main]. Other lines are untouched.
 */
export function planEndpointsEdit(text: ConfigText, endpoints: Record<string, string[]>, options: EditOptions): ConfigEdit {
  const located = locate(text, options);
  const urls = Object.keys(endpoints).filter((url) => endpoints[url]!.length > 0);
  const eol = text.newline;
  let newLines: string[];
  if (urls.length === 0) newLines = [];
  else if (located.format === 'v5') {
    const json = urls.map((url) => `${JSON.stringify(url)}: [${endpoints[url]!.map((k) => JSON.stringify(k)).join(', ')}]`);
    newLines = [`additional_endpoints: {${json.join(', ')}}`];
  } else {
    newLines = ['additional_endpoints:'];
    for (const url of urls) {
      newLines.push(`  ${JSON.stringify(url)}:`);
      for (const key of endpoints[url]!) newLines.push(`  - ${key}`);
    }
  }
  const range = endpointsRange(text, located, options.file);
  let hunk: Hunk;
  if (range !== null) {
    const deleted = text.lines.slice(range.start, range.end + 1);
    const lastEol = deleted[deleted.length - 1]!.eol;
    const inserted = newLines.map((content, i) => ({ content, eol: i === newLines.length - 1 ? lastEol : eol }));
    if (inserted.length === 0 && lastEol === '' && range.start > 0) {
      // Removing the file's last lines: the line before becomes last and keeps "no final newline".
      const previous = text.lines[range.start - 1]!;
      hunk = { start: range.start - 1, deleted: [previous, ...deleted], inserted: [{ content: previous.content, eol: '' }] };
    } else {
      hunk = { start: range.start, deleted, inserted };
    }
  } else if (newLines.length === 0) {
    hunk = { start: 0, deleted: [], inserted: [] };
  } else {
    const after = located.apiKeyIndex >= 0 ? located.apiKeyIndex : located.insertAfter;
    hunk = insertLines(text, after, newLines);
  }
  const edit: ConfigEdit = { format: located.format, before: text, after: applyHunk(text, hunk), hunk, action: 'endpoints' };
  const expected = JSON.stringify(Object.fromEntries(urls.map((url) => [url, endpoints[url]])));
  verifyEdit(edit, options.file, (settings) => JSON.stringify(settings.additionalEndpoints) === expected, 'additional_endpoints');
  return edit;
}

/** The api_key and additional_endpoints as the file states them (no environment). */
export function readKeyState(text: ConfigText, file: string): { apiKey: string | null; additionalEndpoints: Record<string, string[]> } {
  const settings = readFileSettings(plainText(text), file);
  return { apiKey: settings.apiKey, additionalEndpoints: settings.additionalEndpoints };
}

function locate(text: ConfigText, options: EditOptions): Located {
  const source = plainText(text);
  const format = detectConfigFormat(source);
  return format === 'v5' ? locateV5(text, options.file) : locateV6(text, source, options.file);
}

function locateV5(text: ConfigText, file: string): Located {
  const ini = parseV5Ini(text, file); // throws CONFIG_LINE_INVALID with the line
  const mains = ini.sections.filter((s) => s.name === 'Main');
  if (mains.length > 1) {
    throw rekeyError('CONFIG_EDIT_REFUSED', {
      file,
      detail: `[Main] appears twice (lines ${mains.map((m) => m.line).join(' and ')}); merge them into one section first`,
    });
  }
  const header = mains[0]!.line - 1;
  const next = ini.sections.find((s) => s.line - 1 > header);
  const end = next ? next.line - 1 : text.lines.length;
  const active: number[] = [];
  let commented = -1;
  for (let i = header + 1; i < end; i++) {
    const content = text.lines[i]!.content;
    if (isIniCommentOrBlank(content)) {
      if (/^[#;]\s*api_key\s*[:=]/i.test(content)) commented = i;
      continue;
    }
    const option = OPTION.exec(content);
    if (option && option[1]!.toLowerCase() === 'api_key') active.push(i);
  }
  if (active.length > 1) throw duplicates(file, active);
  const index = active[0] ?? -1;
  if (index >= 0) {
    const following = text.lines[index + 1]?.content;
    if (following !== undefined && /^\s/.test(following) && following.trim() !== '') {
      throw rekeyError('CONFIG_EDIT_REFUSED', {
        file,
        detail: `api_key on line ${index + 1} continues on line ${index + 2} (it starts with whitespace); put the key on one line`,
      });
    }
  }
  return {
    format: 'v5',
    apiKeyIndex: index,
    insertAfter: commented >= 0 ? commented : header,
    currentValue: index >= 0 ? (ini.get('Main', 'api_key')?.value ?? null) : null,
    trailing: '',
    main: { header, end },
  };
}

function locateV6(text: ConfigText, source: string, file: string): Located {
  const yaml = parseV6Yaml(source, file); // throws CONFIG_LINE_INVALID with the line
  const contents = yaml.doc.contents;
  const keys = isMap(contents) ? contents.items.map((item) => (isScalar(item.key) ? String(item.key.value) : '')) : [];
  const commentedIndexes = text.lines.flatMap((line, i) => (/^#+\s*api_key\s*:/.test(line.content) ? [i] : []));
  if (!keys.some((key) => DATADOG_SETTINGS.has(key)) && commentedIndexes.length === 0) {
    throw rekeyError('CONFIG_NOT_DATADOG', {
      file,
      reason: keys.length === 0 ? 'it is empty' : 'it has no api_key, site, dd_url or other Agent setting',
    });
  }
  if (isMap(contents) && contents.flow) {
    throw rekeyError('CONFIG_EDIT_REFUSED', { file, detail: 'the settings are one {…} flow mapping; write them one per line' });
  }
  const pair = yaml.pair('api_key');
  let apiKeyIndex = -1;
  let currentValue: string | null = null;
  let trailing = '';
  if (pair) {
    const keyPos = yaml.lineCounter.linePos(pair.key.range![0]);
    apiKeyIndex = keyPos.line - 1;
    const value = pair.value;
    const valueText = scalarText(value);
    const lineEnd = yaml.lineCounter.lineStarts[keyPos.line] ?? source.length;
    const refuse = (detail: string) => rekeyError('CONFIG_EDIT_REFUSED', { file, detail: `api_key on line ${keyPos.line} ${detail}` });
    if (keyPos.col !== 1 || !text.lines[apiKeyIndex]!.content.startsWith('api_key')) throw refuse('is not at the start of its line');
    if (valueText === undefined) throw refuse('is not a single value; write it as "api_key: KEY"');
    if (value?.range && value.range[1] > lineEnd) throw refuse('spans several lines; put the key on one line');
    currentValue = valueText;
    if (value?.range) {
      const lineStart = yaml.lineCounter.lineStarts[keyPos.line - 1]!;
      const rest = text.lines[apiKeyIndex]!.content.slice(value.range[1] - lineStart);
      if (/^[ \t]+#/.test(rest)) trailing = rest;
      else if (rest.trim() !== '') throw refuse('has text after the value; leave only "api_key: KEY"');
    } else {
      const rest = text.lines[apiKeyIndex]!.content.replace(/^api_key\s*:/, '');
      if (/^[ \t]+#/.test(rest)) trailing = rest;
    }
  }
  let insertAfter = commentedIndexes[commentedIndexes.length - 1] ?? -1;
  if (insertAfter < 0) {
    // At the top, but after a `---` document marker (and any directives before it).
    const firstContent = contents?.range ? yaml.lineCounter.linePos(contents.range[0]).line - 1 : text.lines.length;
    for (let i = 0; i < firstContent; i++) if (/^---(\s|$)/.test(text.lines[i]!.content)) insertAfter = i;
  }
  return { format: 'v6', apiKeyIndex, insertAfter, currentValue, trailing, yaml };
}

/** The 0-based inclusive line range of the additional_endpoints setting, or null. */
function endpointsRange(text: ConfigText, located: Located, file: string): { start: number; end: number } | null {
  if (located.format === 'v5') {
    const lines: number[] = [];
    for (let i = located.main!.header + 1; i < located.main!.end; i++) {
      const option = OPTION.exec(text.lines[i]!.content);
      if (option && !isIniCommentOrBlank(text.lines[i]!.content) && option[1]!.toLowerCase() === 'additional_endpoints') lines.push(i);
    }
    if (lines.length > 1) throw duplicates(file, lines, 'additional_endpoints');
    if (lines.length === 0) return null;
    let end = lines[0]!;
    while (end + 1 < text.lines.length && /^\s+\S/.test(text.lines[end + 1]!.content)) end++;
    return { start: lines[0]!, end };
  }
  const yaml = located.yaml!;
  const pair = yaml.pair('additional_endpoints');
  if (!pair) return null;
  const keyPos = yaml.lineCounter.linePos(pair.key.range![0]);
  if (keyPos.col !== 1) {
    throw rekeyError('CONFIG_EDIT_REFUSED', { file, detail: `additional_endpoints on line ${keyPos.line} is not at the start of its line` });
  }
  const start = keyPos.line - 1;
  let end = start;
  const valueEnd = pair.value?.range?.[1];
  if (valueEnd !== undefined) {
    const pos = yaml.lineCounter.linePos(valueEnd);
    end = Math.max(start, pos.col === 1 ? pos.line - 2 : pos.line - 1);
  }
  // Comments and blank lines after the block belong to what follows: keep them.
  while (end > start && /^\s*(#.*)?$/.test(text.lines[end]!.content)) end--;
  return { start, end };
}

function duplicates(file: string, indexes: number[], name = 'api_key'): Error {
  return rekeyError('CONFIG_EDIT_REFUSED', {
    file,
    detail: `${name} is set ${indexes.length} times (lines ${indexes.map((i) => i + 1).join(', ')}); delete all but one`,
  });
}

function insertLine(text: ConfigText, after: number, content: string): Hunk {
  return insertLines(text, after, [content]);
}

/** Inserts lines after index `after` (-1: at the top), keeping a missing final newline missing. */
function insertLines(text: ConfigText, after: number, contents: string[]): Hunk {
  const eol = text.newline;
  const previous = after >= 0 ? text.lines[after] : undefined;
  if (previous !== undefined && previous.eol === '') {
    const inserted = contents.map((content, i) => ({ content, eol: i === contents.length - 1 ? '' : eol }));
    return { start: after, deleted: [previous], inserted: [{ content: previous.content, eol }, ...inserted] };
  }
  return { start: after + 1, deleted: [], inserted: contents.map((content) => ({ content, eol })) };
}

export function applyHunk(text: ConfigText, hunk: Hunk): ConfigText {
  const lines = [...text.lines.slice(0, hunk.start), ...hunk.inserted, ...text.lines.slice(hunk.start + hunk.deleted.length)];
  return { bom: text.bom, newline: text.newline, lines };
}

/**
 * Re-parses the edited text and checks that it says what was intended and that every other
 * setting reads exactly as before; otherwise the edit is refused rather than written.
 */
function verifyEdit(
  edit: ConfigEdit,
  file: string,
  intended: (settings: ReturnType<typeof readFileSettings>) => boolean,
  changed: 'api_key' | 'additional_endpoints',
): void {
  const before = everythingBut(edit.before, file, changed);
  let after: string;
  let settings: ReturnType<typeof readFileSettings>;
  try {
    settings = readFileSettings(plainText(edit.after), file);
    after = everythingBut(edit.after, file, changed);
  } catch (error) {
    throw rekeyError('CONFIG_EDIT_REFUSED', { file, detail: `the edited file would not parse (${(error as Error).message})` });
  }
  if (settings.format !== edit.format || !intended(settings) || before !== after) {
    throw rekeyError('CONFIG_EDIT_REFUSED', {
      file,
      detail: `rekey could not change ${changed} without changing another setting; edit this file by hand`,
    });
  }
}

/** Every setting of the file except `omit`, as a canonical string. */
function everythingBut(text: ConfigText, file: string, omit: string): string {
  const source = plainText(text);
  if (detectConfigFormat(source) === 'v5') {
    const ini = parseV5Ini(text, file);
    return JSON.stringify(ini.entries.filter((e) => !(e.section === 'Main' && e.key === omit)).map((e) => [e.section, e.key, e.value]));
  }
  const js = parseV6Yaml(source, file).doc.toJS() as Record<string, unknown> | null;
  const rest = { ...(js ?? {}) };
  delete rest[omit];
  return JSON.stringify(rest);
}
