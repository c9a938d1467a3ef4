/**
 * Reads Agent v6/7's `datadog.yaml` with the `yaml` library's Document API, keeping node
 * positions so every message can name the line. Duplicate keys are an error, as they are
 * for the Agent's own YAML parser.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Pair, type Scalar } from 'yaml';
import { rekeyError } from '../errors.js';

export interface YamlFile {
  doc: Document;
  lineCounter: LineCounter;
  /** The top-level `key: value` pair, if present. */
  pair(key: string): Pair<Scalar, Node | null> | undefined;
  /** 1-based line of a node (or of the file's first line for a missing node). */
  lineOf(node: Node | null | undefined): number;
}

/** Parses `text` (BOM allowed); throws CONFIG_LINE_INVALID naming `file` and the line. */
export function parseV6Yaml(text: string, file: string): YamlFile {
  // An INI file without [Main] is neither v5 nor YAML: say so instead of a YAML syntax error.
  if (/^\[[^\]]+\][ \t]*$/m.test(text)) {
    throw rekeyError('CONFIG_NOT_DATADOG', { file, reason: 'an INI file without a [Main] section' });
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text.replace(/^\uFEFF/, ''), { lineCounter, uniqueKeys: true, prettyErrors: false });
  const error = doc.errors[0];
  if (error !== undefined) {
    const line = lineCounter.linePos(error.pos[0]).line;
    const detail = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw rekeyError('CONFIG_LINE_INVALID', { file, line, detail: `not valid YAML: ${detail}` });
  }
  if (doc.contents !== null && !isMap(doc.contents)) {
    const line = lineCounter.linePos(doc.contents.range?.[0] ?? 0).line;
    throw rekeyError('CONFIG_LINE_INVALID', { file, line, detail: 'the file must be a YAML mapping of "name: value" settings' });
  }
  const lineOf = (node: Node | null | undefined): number => lineCounter.linePos(node?.range?.[0] ?? 0).line;
  return {
    doc,
    lineCounter,
    lineOf,
    pair(key) {
      if (!isMap(doc.contents)) return undefined;
      return doc.contents.items.find((item) => isScalar(item.key) && item.key.value === key) as Pair<Scalar, Node | null> | undefined;
    },
  };
}

/**
 * A scalar's text as written, for keys: a plain `0123…` must not become the number 123.
 * Returns null for a missing or empty value, undefined when the value is not a scalar.
 */
export function scalarText(node: Node | null | undefined): string | null | undefined {
  if (node === null || node === undefined) return null;
  if (!isScalar(node)) return undefined;
  if (node.value === null) return null;
  if (node.type === 'PLAIN' && typeof node.source === 'string') return node.source;
  return String(node.value);
}

/** A list of strings from a YAML sequence of scalars, or undefined when it is not one. */
export function stringList(node: Node | null | undefined): string[] | undefined {
  if (!isSeq(node)) return undefined;
  const out: string[] = [];
  for (const item of node.items) {
    const text = scalarText(item as Node);
    if (typeof text !== 'string') return undefined;
    out.push(text);
  }
  return out;
}
