/**
 * Writes docs/api.md, the HTTP API reference, from the server's own OpenAPI document: the
 * app is built in-process (a throwaway SQLite store, no port), `GET /api/openapi.json` is
 * injected, and every operation is rendered with its parameters, body and responses. The
 * routes' schemas are the source of truth; test/ship/api-docs.test.ts checks the file is current.
 *
 * Usage: node --import tsx scripts/gen-api-docs.ts [--check]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createKeyHasher } from '../src/keys/key-hasher.js';
import { buildApp } from '../src/server/app.js';
import { openStore } from '../src/store/open-store.js';

export const API_DOCS_FILE = fileURLToPath(new URL('../docs/api.md', import.meta.url));

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  const?: unknown;
  description?: string;
  format?: string;
  nullable?: boolean;
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
  additionalProperties?: boolean | Schema;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  default?: unknown;
  $ref?: string;
};

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  description?: string;
  schema?: Schema;
}

interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  parameters?: Parameter[];
  requestBody?: { content?: Record<string, { schema?: Schema }>; required?: boolean };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>;
  security?: Array<Record<string, string[]>>;
}

interface OpenApiDocument {
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, Operation>>;
  security?: Array<Record<string, string[]>>;
  components?: { securitySchemes?: Record<string, { type: string; in?: string; name?: string }> };
}

/** Builds the server in-process and returns its OpenAPI document. */
export async function fetchOpenApiDocument(): Promise<OpenApiDocument> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rekey-api-docs-'));
  const store = await openStore({ dataDir });
  try {
    const app = await buildApp({ store, hasher: createKeyHasher(randomBytes(32)), logger: false });
    try {
      const response = await app.inject({ method: 'GET', url: '/api/openapi.json' });
      if (response.statusCode !== 200) throw new Error(`GET /api/openapi.json answered ${response.statusCode}: ${response.body}`);
      return response.json() as OpenApiDocument;
    } finally {
      await app.close();
    }
  } finally {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function cell(text: unknown): string {
  return String(text).replace(/\|/g, '\\|').replace(/\n+/g, ' ');
}

function typeOf(schema: Schema): string {
  if (schema.$ref) return schema.$ref.replace(/^#\/components\/schemas\//, '');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  const variants = schema.oneOf ?? schema.anyOf;
  if (variants) return variants.map(typeOf).join(' or ');
  const type = Array.isArray(schema.type) ? schema.type.join(' or ') : (schema.type ?? (schema.properties ? 'object' : 'any'));
  if (type === 'array' && schema.items) return `array of ${typeOf(schema.items)}`;
  return `${type}${schema.format ? ` (${schema.format})` : ''}${schema.nullable ? ' or null' : ''}`;
}

function constraints(schema: Schema): string {
  const parts: string[] = [];
  if (schema.minimum !== undefined || schema.maximum !== undefined) parts.push(`${schema.minimum ?? '…'}–${schema.maximum ?? '…'}`);
  if (schema.minLength !== undefined || schema.maxLength !== undefined) parts.push(`${schema.minLength ?? 0}–${schema.maxLength ?? '…'} characters`);
  if (schema.pattern !== undefined) parts.push(`pattern \`${schema.pattern}\``);
  if (schema.default !== undefined) parts.push(`default ${JSON.stringify(schema.default)}`);
  return parts.join('; ');
}

/** A schema as rows of `field path | type | required | notes`, nested objects and arrays flattened. */
function schemaRows(schema: Schema, path: string, required: boolean, rows: string[][], depth = 0): string[][] {
  const notes = [schema.description, constraints(schema)].filter(Boolean).join('; ');
  if (path !== '') rows.push([`\`${path}\``, typeOf(schema), required ? 'yes' : '', notes]);
  if (depth > 8) return rows;
  const objectSchema = schema.type === 'array' && schema.items ? schema.items : schema;
  const prefix = schema.type === 'array' && schema.items ? `${path}[]` : path;
  for (const [name, inner] of Object.entries(objectSchema.properties ?? {})) {
    schemaRows(inner, prefix ? `${prefix}.${name}` : name, (objectSchema.required ?? []).includes(name), rows, depth + 1);
  }
  for (const part of objectSchema.allOf ?? []) schemaRows({ ...part, description: undefined }, prefix, false, rows, depth + 1);
  return rows;
}

function table(header: string[], rows: string[][]): string[] {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`)];
}

function anchor(method: string, path: string): string {
  return `${method}-${path}`
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

const METHOD_ORDER = ['get', 'post', 'put', 'patch', 'delete'];

/** Renders the OpenAPI document as markdown, grouped by tag in the document's order. */
export function renderApiDocs(doc: OpenApiDocument): string {
  const operations: Array<{ method: string; path: string; op: Operation; tag: string }> = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of Object.keys(item).sort((a, b) => METHOD_ORDER.indexOf(a) - METHOD_ORDER.indexOf(b))) {
      const op = item[method]!;
      operations.push({ method, path, op, tag: op.tags?.[0] ?? 'Intake and metrics' });
    }
  }
  const tags = [...new Set(operations.map((o) => o.tag))];
  const lines: string[] = [
    '# HTTP API reference',
    '',
    `${doc.info.title} ${doc.info.version}. ${doc.info.description ?? ''}`.trim(),
    '',
    "Generated by `node --import tsx scripts/gen-api-docs.ts` from the server's own OpenAPI document",
    '(`GET /api/openapi.json` on any running server); do not edit by hand. Errors are',
    '`{"errors":["…"]}`; every code, status and message is in [errors.md](errors.md).',
    '',
    '## Authentication',
    '',
  ];
  for (const [name, scheme] of Object.entries(doc.components?.securitySchemes ?? {})) {
    lines.push(`- \`${name}\`: ${scheme.type}${scheme.in ? ` in ${scheme.in}` : ''}${scheme.name ? ` \`${scheme.name}\`` : ''}`);
  }
  lines.push(
    '',
    'The document declares both headers for every operation; in practice:',
    '',
    '- `GET /healthz`, `GET /metrics`, `GET /api/openapi.json`: no authentication.',
    '- `GET /api/v1/validate` and the intake (`/api/v1/series`, `/api/v2/series`, `/api/v1/check_run`,',
    '  `/intake/`): the API key alone, as the `DD-API-KEY` header or the `api_key` query parameter;',
    '  a missing, malformed, unknown, revoked or expired key is 403 `{"errors":["Forbidden"]}`.',
    '- Everything else (keys, application keys, audit, `/api/v1/query`, `/api/v1/hosts`): both',
    '  headers, an API key and an application key of the same organisation. Changes need the',
    "  admin role. Another organisation's object answers 404.",
    '',
    '## Endpoints',
    '',
  );
  for (const tag of tags) {
    lines.push(`- ${tag}`);
    for (const o of operations.filter((x) => x.tag === tag)) {
      lines.push(`  - [\`${o.method.toUpperCase()} ${o.path}\`](#${anchor(o.method, o.path)})${o.op.summary ? ` — ${o.op.summary}` : ''}`);
    }
  }
  lines.push('');
  for (const tag of tags) {
    lines.push(`## ${tag}`, '');
    for (const { method, path, op } of operations.filter((x) => x.tag === tag)) {
      lines.push(`<a id="${anchor(method, path)}"></a>`, `### \`${method.toUpperCase()} ${path}\``, '');
      if (op.summary) lines.push(op.summary, '');
      if (op.description) lines.push(op.description, '');
      // Only an operation's own declaration: the document-wide default is explained once above.
      if (op.security !== undefined) {
        const names = op.security.flatMap((s) => Object.keys(s));
        lines.push(`Auth: ${names.length === 0 ? 'none' : names.map((n) => `\`${n}\``).join(' + ')}`, '');
      }
      const parameters = op.parameters ?? [];
      if (parameters.length > 0) {
        lines.push(
          ...table(
            ['parameter', 'in', 'type', 'required', 'description'],
            parameters.map((p) => [
              `\`${p.name}\``,
              p.in,
              p.schema ? typeOf(p.schema) : '',
              p.required ? 'yes' : '',
              [p.description, p.schema ? constraints(p.schema) : ''].filter(Boolean).join('; '),
            ]),
          ),
          '',
        );
      }
      for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
        lines.push(`Request body (\`${type}\`${op.requestBody?.required ? ', required' : ''}):`, '');
        const rows = media.schema ? schemaRows(media.schema, '', true, []) : [];
        lines.push(...(rows.length > 0 ? table(['field', 'type', 'required', 'notes'], rows) : ['(any)']), '');
      }
      const responses = Object.entries(op.responses ?? {});
      if (responses.length > 0) {
        lines.push('Responses:', '');
        for (const [status, response] of responses) {
          lines.push(`- **${status}** ${response.description ?? ''}`.trimEnd());
          for (const [type, media] of Object.entries(response.content ?? {})) {
            const rows = media.schema ? schemaRows(media.schema, '', true, []) : [];
            if (rows.length > 0) lines.push('', `  \`${type}\`:`, '', ...table(['field', 'type', 'required', 'notes'], rows).map((l) => `  ${l}`), '');
          }
        }
        lines.push('');
      }
    }
  }
  return `${lines
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const doc = await fetchOpenApiDocument();
  if (process.argv.includes('--dump')) {
    process.stdout.write(JSON.stringify(doc, null, 2));
    process.exit(0);
  }
  const text = renderApiDocs(doc);
  if (process.argv.includes('--check')) {
    if (readFileSync(API_DOCS_FILE, 'utf8') !== text) {
      process.stderr.write('docs/api.md is out of date: run node --import tsx scripts/gen-api-docs.ts\n');
      process.exit(1);
    }
  } else {
    writeFileSync(API_DOCS_FILE, text);
    process.stderr.write(`wrote ${API_DOCS_FILE}\n`);
  }
}
