/**
 * Datadog's list query parameters (`page[size]`, `page[number]`, `sort`, `filter`,
 * `filter[created_at][start|end]`, `filter[modified_at][start|end]`, `include`) turned into
 * the store's queries, and their JSON schemas (which also document them in the OpenAPI
 * document). Defaults as Datadog's: page size 10, page 0, sorted by name.
 */
import { rekeyError } from '../errors.js';
import type { ApiKeyListQuery, AppKeyListQuery, Page, TimeRange } from '../store/store.js';

export const MAX_PAGE_SIZE = 100;
const DEFAULT_PAGE_SIZE = 10;

const API_KEY_SORTS = ['created_at', 'last4', 'modified_at', 'name'] as const;
const APP_KEY_SORTS = ['created_at', 'last4', 'name'] as const;

function withDesc(fields: readonly string[]): string[] {
  return fields.flatMap((f) => [f, `-${f}`]);
}

const pagingSchema = {
  'page[size]': { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE, description: 'Items per page (at most 100)' },
  'page[number]': { type: 'integer', minimum: 0, default: 0, description: 'Page to return, from 0' },
} as const;

const dateParam = { type: 'string', description: 'ISO 8601 date-time' } as const;

export const apiKeyListQuerySchema = {
  type: 'object',
  properties: {
    ...pagingSchema,
    sort: { type: 'string', enum: withDesc(API_KEY_SORTS), default: 'name', description: 'Field to sort by; prefix with - for descending' },
    filter: { type: 'string', description: 'Matches the name (case-insensitive substring) or the last 4 characters' },
    'filter[created_at][start]': dateParam,
    'filter[created_at][end]': dateParam,
    'filter[modified_at][start]': dateParam,
    'filter[modified_at][end]': dateParam,
    include: { type: 'string', description: 'Comma-separated: created_by, modified_by' },
    'filter[status]': { type: 'string', enum: ['active', 'revoked', 'all'], default: 'active', description: 'extension: revoked keys are listed only when asked' },
  },
} as const;

export const appKeyListQuerySchema = {
  type: 'object',
  properties: {
    ...pagingSchema,
    sort: { type: 'string', enum: withDesc(APP_KEY_SORTS), default: 'name' },
    filter: { type: 'string' },
    'filter[created_at][start]': dateParam,
    'filter[created_at][end]': dateParam,
    'filter[owned_by]': { type: 'string', description: "The owner's user id or email" },
    include: { type: 'string', description: 'owned_by' },
  },
} as const;

export type RawListQuery = Record<string, string | number | undefined>;

function page(raw: RawListQuery): Page {
  return { size: Number(raw['page[size]'] ?? DEFAULT_PAGE_SIZE), number: Number(raw['page[number]'] ?? 0) };
}

function date(raw: RawListQuery, name: string): Date | undefined {
  const value = raw[name];
  if (value === undefined || value === '') return undefined;
  const parsed = new Date(String(value));
  if (Number.isNaN(parsed.getTime())) {
    throw rekeyError('BAD_REQUEST', { detail: `${name} is not a date; use ISO 8601 such as 2026-01-31T00:00:00Z` });
  }
  return parsed;
}

function range(raw: RawListQuery, field: string): TimeRange | undefined {
  const start = date(raw, `filter[${field}][start]`);
  const end = date(raw, `filter[${field}][end]`);
  if (start === undefined && end === undefined) return undefined;
  return { ...(start === undefined ? {} : { start }), ...(end === undefined ? {} : { end }) };
}

function sort<F extends string>(raw: RawListQuery): { field: F; direction: 'asc' | 'desc' } {
  const value = String(raw.sort ?? 'name');
  return value.startsWith('-')
    ? { field: value.slice(1) as F, direction: 'desc' }
    : { field: value as F, direction: 'asc' };
}

function filter(raw: RawListQuery): string | undefined {
  const value = raw.filter;
  return value === undefined || value === '' ? undefined : String(value);
}

export function parseApiKeyListQuery(raw: RawListQuery): ApiKeyListQuery {
  const createdAt = range(raw, 'created_at');
  const modifiedAt = range(raw, 'modified_at');
  const text = filter(raw);
  return {
    status: (raw['filter[status]'] as ApiKeyListQuery['status']) ?? 'active',
    page: page(raw),
    sort: sort(raw),
    ...(text === undefined ? {} : { filter: text }),
    ...(createdAt === undefined ? {} : { createdAt }),
    ...(modifiedAt === undefined ? {} : { modifiedAt }),
  };
}

export function parseAppKeyListQuery(raw: RawListQuery): AppKeyListQuery {
  const createdAt = range(raw, 'created_at');
  const text = filter(raw);
  return {
    page: page(raw),
    sort: sort(raw),
    ...(text === undefined ? {} : { filter: text }),
    ...(createdAt === undefined ? {} : { createdAt }),
  };
}

/** The requested relationships to include; anything outside `allowed` is a 400. */
export function parseInclude(raw: RawListQuery, allowed: readonly string[]): Set<string> {
  const value = raw.include;
  if (value === undefined || value === '') return new Set();
  const names = String(value).split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const name of names) {
    if (!allowed.includes(name)) {
      throw rekeyError('BAD_REQUEST', { detail: `include=${name} is not supported; use ${allowed.join(', ')}` });
    }
  }
  return new Set(names);
}
