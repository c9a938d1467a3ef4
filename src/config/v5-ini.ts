/**
 * Reads Agent v5's `datadog.conf` the way the v5 Agent did (Python 2's RawConfigParser), so
 * rekey sees the same value the Agent would: `key: value` or `key = value`, `#`/`;` comment
 * lines, continuation lines that start with whitespace, an inline `;` comment after a space,
 * option names lower-cased. Every entry keeps its 1-based line number for messages.
 *
 * @example
 *   parseV5Ini('[Main]\napi_key: abcd\n', 'datadog.conf').get('main', 'api_key'); // 'abcd'
 */
import { rekeyError } from '../errors.js';
import type { ConfigText } from './config-text.js';

export interface IniEntry {
  section: string;
  /** Lower-cased option name. */
  key: string;
  value: string;
  /** 1-based line of the `key: value` line. */
  line: number;
}

export interface IniFile {
  entries: IniEntry[];
  /** Section names as written, with the line of their header. */
  sections: Array<{ name: string; line: number }>;
  /** The last entry for `key` in `section` (section names are case-sensitive, as in ConfigParser), as ConfigParser returns. */
  get(section: string, key: string): IniEntry | undefined;
}

const SECTION = /^\[([^\]]+)\]/;
const OPTION = /^([^:=\s][^:=]*?)\s*([:=])\s*(.*)$/;

/** True for the lines RawConfigParser skips: blank, `#`, `;` and `rem `. */
export function isIniCommentOrBlank(content: string): boolean {
  const trimmed = content.trim();
  return trimmed === '' || content.startsWith('#') || content.startsWith(';') || /^rem\s/i.test(content);
}

/**
 * Parses the lines of a v5 file; throws CONFIG_LINE_INVALID naming `file` and the line for a
 * line RawConfigParser would reject.
 */
export function parseV5Ini(text: ConfigText | string, file: string): IniFile {
  const lines = typeof text === 'string' ? text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/) : text.lines.map((l) => l.content);
  const entries: IniEntry[] = [];
  const sections: IniFile['sections'] = [];
  let section: string | null = null;
  let current: IniEntry | null = null;
  lines.forEach((content, index) => {
    const line = index + 1;
    if (isIniCommentOrBlank(content)) return;
    if (/^\s/.test(content)) {
      if (current === null) {
        throw rekeyError('CONFIG_LINE_INVALID', {
          file,
          line,
          detail: 'this line starts with whitespace but continues no setting; remove the leading spaces',
        });
      }
      current.value = `${current.value}\n${content.trim()}`;
      return;
    }
    const header = SECTION.exec(content);
    if (header) {
      section = header[1]!;
      sections.push({ name: section, line });
      current = null;
      return;
    }
    const option = OPTION.exec(content);
    if (option === null) {
      throw rekeyError('CONFIG_LINE_INVALID', {
        file,
        line,
        detail: 'not a "name: value" setting, a [section] header or a comment; fix or comment out this line',
      });
    }
    if (section === null) {
      throw rekeyError('CONFIG_LINE_INVALID', {
        file,
        line,
        detail: 'a setting before any [section] header; put it under [Main]',
      });
    }
    let value = option[3]!;
    const semicolon = value.indexOf(';');
    if (semicolon > 0 && /\s/.test(value[semicolon - 1]!)) value = value.slice(0, semicolon);
    value = value.trim();
    if (value === '""') value = '';
    current = { section, key: option[1]!.toLowerCase(), value, line };
    entries.push(current);
  });
  return {
    entries,
    sections,
    get(wanted, key) {
      let found: IniEntry | undefined;
      for (const entry of entries) if (entry.section === wanted && entry.key === key) found = entry;
      return found;
    },
  };
}
