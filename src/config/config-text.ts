/**
 * A config file's text split into lines that remember their own line terminator, so an edit
 * can replace or insert one line and join everything else back byte for byte (CRLF or LF,
 * a UTF-8 BOM, a missing final newline all survive).
 *
 * @example
 *   const text = splitConfigText(buffer);
 *   text.lines[3]; // { content: 'api_key: …', eol: '\r\n' }
 *   joinConfigText(text).equals(buffer); // true
 */

export interface ConfigLine {
  /** The line without its terminator. */
  content: string;
  /** '\n', '\r\n', '\r' or '' (only the last line can have none). */
  eol: string;
}

export interface ConfigText {
  /** True when the file starts with a UTF-8 byte order mark (kept, never parsed). */
  bom: boolean;
  lines: ConfigLine[];
  /** The terminator used for inserted lines: the file's first one, else '\n'. */
  newline: string;
}

const BOM = '\uFEFF';

/** Splits a file's bytes into lines. The BOM is set aside, not part of line 1. */
export function splitConfigText(data: Buffer | string): ConfigText {
  let text = typeof data === 'string' ? data : data.toString('utf8');
  const bom = text.startsWith(BOM);
  if (bom) text = text.slice(1);
  const lines: ConfigLine[] = [];
  const pattern = /([^\r\n]*)(\r\n|\n|\r|$)/g;
  for (;;) {
    const start = pattern.lastIndex;
    const match = pattern.exec(text);
    if (match === null) break;
    if (match[2] === '' && match[1] === '') break; // end of text: no empty trailing line
    lines.push({ content: match[1]!, eol: match[2]! });
    if (match[2] === '') break;
    if (pattern.lastIndex === start) break; // bounded: never loop on an empty match
  }
  const newline = lines.find((line) => line.eol !== '')?.eol ?? '\n';
  return { bom, lines, newline };
}

/** The file's bytes from its lines: the exact inverse of `splitConfigText`. */
export function joinConfigText(text: ConfigText): Buffer {
  const body = text.lines.map((line) => line.content + line.eol).join('');
  return Buffer.from((text.bom ? BOM : '') + body, 'utf8');
}

/** The text without BOM, as parsers see it. */
export function plainText(text: ConfigText): string {
  return text.lines.map((line) => line.content + line.eol).join('');
}
