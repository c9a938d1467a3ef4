/**
 * Datadog's list query parameters (`page[size]`, `page[number]`, `sort`, `filter`,
 * `filter[created_at][start|end]`, `filter[modified_at][start|end]`, `include`) turned into
 * the store's queries, and their TypeBox schemas: one schema per query gives Fastify's
 * validation (page bounds, sort and status names: 400 with Ajv's message), the handler's
 * TypeScript type (through the TypeBox type provider) and the OpenAPI document. Defaults as
 * Datadog's: page size 10, page 0, sorted by name. Dates stay strings in the schema and are
 * parsed here, so a bad one is a 400 that says "use ISO 8601" (as documented in docs/api.md).
 */
import { Type, type Static } from 'typebox';
import { rekeyError } from '../errors.js';
import type { ApiKeyListQuery, AppKeyListQuery, Page, TimeRange } from '../store/store.js';

export const MAX_PAGE_SIZE = 100;
const DEFAULT_PAGE_SIZE = 10;

const API_KEY_SORTS = ['created_at', 'last4', 'modified_at', 'name'] as const;
const APP_KEY_SORTS = ['created_at', 'last4', 'name'] as const;
type Sorted<F extends string> = F | `-${F}`;

function withDesc<F extends string>(fields: readonly F[]): Sorted<F>[] {
  return fields.flatMap((f): Sorted<F>[] => [f, `-${f}`]);
}

/** `sort=` value → the store's sort, for each value the schema allows. */
type SortOf<F extends string> = { field: F; direction: 'asc' | 'desc' };
function sortTable<F extends string>(fields: readonly F[]): Map<string, SortOf<F>> {
  const table = new Map<string, SortOf<F>>();
  for (const field of fields) {
    table.set(field, { field, direction: 'asc' });
    table.set(`-${field}`, { field, direction: 'desc' });
  }
  return table;
}
const API_KEY_SORT = sortTable(API_KEY_SORTS);
const APP_KEY_SORT = sortTable(APP_KEY_SORTS);

const pagingSchema = {
  'page[size]': Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE, description: 'Items per page (at most 100)' })),
  'page[number]': Type.Optional(Type.Integer({ minimum: 0, default: 0, description: 'Page to return, from 0' })),
};

const dateParam = () => Type.Optional(Type.String({ description: 'ISO 8601 date-time' }));

/** `include=` alone (the routes that return one resource), naming the relationships it takes. */
export function includeQuerySchema(names: readonly string[]) {
  return Type.Object({ include: Type.Optional(Type.String({ description: `Comma-separated: ${names.join(', ')}` })) });
}

export const apiKeyListQuerySchema = Type.Object({
  ...pagingSchema,
  sort: Type.Optional(Type.Enum(withDesc(API_KEY_SORTS), { type: 'string', default: 'name', description: 'Field to sort by; prefix with - for descending' })),
  filter: Type.Optional(Type.String({ description: 'Matches the name (case-insensitive substring) or the last 4 characters' })),
  'filter[created_at][start]': dateParam(),
  'filter[created_at][end]': dateParam(),
  'filter[modified_at][start]': dateParam(),
  'filter[modified_at][end]': dateParam(),
  include: Type.Optional(Type.String({ description: 'Comma-separated: created_by, modified_by' })),
  'filter[status]': Type.Optional(
    Type.Enum(['active', 'revoked', 'all'], { type: 'string', default: 'active', description: 'extension: revoked keys are listed only when asked' }),
  ),
  'filter[remote_config_read_enabled]': Type.Optional(Type.Boolean({ description: 'Only keys whose remote_config_read_enabled is this (true or false)' })),
  'filter[category]': Type.Optional(Type.String({ description: 'Only keys of this category (exact match; keys nobody categorised are "default")' })),
});

export const appKeyListQuerySchema = Type.Object({
  ...pagingSchema,
  sort: Type.Optional(Type.Enum(withDesc(APP_KEY_SORTS), { type: 'string', default: 'name' })),
  filter: Type.Optional(Type.String()),
  'filter[created_at][start]': dateParam(),
  'filter[created_at][end]': dateParam(),
  'filter[owned_by]': Type.Optional(Type.String({ description: "The owner's user id or email" })),
  include: Type.Optional(Type.String({ description: 'owned_by' })),
});

export type ApiKeyListParams = Static<typeof apiKeyListQuerySchema>;
export type AppKeyListParams = Static<typeof appKeyListQuerySchema>;

function page(query: { 'page[size]'?: number; 'page[number]'?: number }): Page {
  return { size: query['page[size]'] ?? DEFAULT_PAGE_SIZE, number: query['page[number]'] ?? 0 };
}

/** An ISO 8601 query parameter; absent or empty: undefined; not a date: 400 "`name` is not a date; `hint`". */
export function dateQueryParam(name: string, value: string | undefined, hint = 'use ISO 8601 such as 2026-01-31T00:00:00Z'): Date | undefined {
  if (value === undefined || value === '') return undefined;
  const parsed = new Date(value);
  if (Number.isNaN(parsed.getTime())) {
    throw rekeyError('BAD_REQUEST', { detail: `${name} is not a date; ${hint}` });
  }
  return parsed;
}

function range(startName: string, start: string | undefined, endName: string, end: string | undefined): TimeRange | undefined {
  const from = dateQueryParam(startName, start);
  const to = dateQueryParam(endName, end);
  if (from === undefined && to === undefined) return undefined;
  return { ...(from === undefined ? {} : { start: from }), ...(to === undefined ? {} : { end: to }) };
}

function sort<F extends string>(table: Map<string, SortOf<F>>, value: string | undefined): SortOf<F> {
  // The schema's enum admits only the table's values; 'name' is the default of both.
  return table.get(value ?? 'name') ?? table.get('name')!;
}

function filter(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

export function parseApiKeyListQuery(query: ApiKeyListParams): ApiKeyListQuery {
  const createdAt = range('filter[created_at][start]', query['filter[created_at][start]'], 'filter[created_at][end]', query['filter[created_at][end]']);
  const modifiedAt = range('filter[modified_at][start]', query['filter[modified_at][start]'], 'filter[modified_at][end]', query['filter[modified_at][end]']);
  const text = filter(query.filter);
  return {
    status: query['filter[status]'] ?? 'active',
    page: page(query),
    sort: sort(API_KEY_SORT, query.sort),
    ...(text === undefined ? {} : { filter: text }),
    ...(createdAt === undefined ? {} : { createdAt }),
    ...(modifiedAt === undefined ? {} : { modifiedAt }),
    ...(query['filter[remote_config_read_enabled]'] === undefined ? {} : { remoteConfigReadEnabled: query['filter[remote_config_read_enabled]'] }),
    ...(query['filter[category]'] === undefined || query['filter[category]'] === '' ? {} : { category: query['filter[category]'] }),
  };
}

export function parseAppKeyListQuery(query: AppKeyListParams): AppKeyListQuery {
  const createdAt = range('filter[created_at][start]', query['filter[created_at][start]'], 'filter[created_at][end]', query['filter[created_at][end]']);
  const text = filter(query.filter);
  return {
    page: page(query),
    sort: sort(APP_KEY_SORT, query.sort),
    ...(text === undefined ? {} : { filter: text }),
    ...(createdAt === undefined ? {} : { createdAt }),
  };
}

/** The requested relationships to include; anything outside `allowed` is a 400. */
export function parseInclude(value: string | undefined, allowed: readonly string[]): Set<string> {
  if (value === undefined || value === '') return new Set();
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const name of names) {
    if (!allowed.includes(name)) {
      throw rekeyError('BAD_REQUEST', { detail: `include=${name} is not supported; use ${allowed.join(', ')}` });
    }
  }
  return new Set(names);
}
