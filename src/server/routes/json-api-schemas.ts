/**
 * JSON schemas shared by the management routes: path parameters, JSON:API request bodies,
 * the JSON:API response bodies and the error body. Requests are validated by Fastify; every
 * schema is published in `/api/openapi.json` (and so in docs/api.md).
 *
 * Response schemas are not only documentation: Fastify serialises a response that has one
 * with fast-json-stringify, which writes only the properties the schema lists. So each
 * resource schema below lists every property its builder in src/server/json-api.ts sends;
 * a property added there must be added here (test/server/openapi-responses.test.ts fails
 * otherwise). `additionalProperties` is left unset (clients must tolerate new properties, as
 * Datadog's do) except on an audit event's `details`, whose keys depend on the action and
 * are all written (`additionalProperties: true`).
 */
export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

/** `{"data":{"type":TYPE,"id"?,"attributes":{…}}}` with `attributes` as given. */
export function jsonApiBody(
  type: string,
  attributes: Record<string, unknown>,
  options: { requireId?: boolean; requireAttributes?: readonly string[]; optional?: boolean } = {},
) {
  return {
    type: 'object',
    required: options.optional ? [] : ['data'],
    properties: {
      data: {
        type: 'object',
        required: [...(options.optional ? [] : ['attributes']), ...(options.requireId ? ['id'] : [])],
        properties: {
          type: { type: 'string', enum: [type] },
          id: { type: 'string' },
          attributes: {
            type: 'object',
            required: [...(options.requireAttributes ?? [])],
            properties: attributes,
          },
        },
      },
    },
  } as const;
}

/** Datadog's error body, `{"errors":["…"]}`: every failure of the API has this shape. */
export const errorResponse = {
  type: 'object',
  required: ['errors'],
  properties: { errors: { type: 'array', items: { type: 'string' } } },
} as const;

/** The error statuses a management route answers, each with what it means there by default. */
const ERROR_DESCRIPTIONS = {
  400: 'Bad request: a parameter or the body is invalid, or a rule refuses the change; the message says which',
  403: 'Forbidden: the keys are missing, unknown, revoked or expired, or the role may not do this',
  404: "Not found in the caller's organization",
  429: 'Too many failed authentication attempts from this address; retry after Retry-After seconds',
} as const;

export type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS;

/**
 * Response schemas for the error statuses a route answers, `description` overriding the
 * default meaning of a status for this route.
 *
 * @example
 *   response: { 204: noContent('Revoked'), ...errorResponses([400, 403, 404, 429], { 400: 'The last active key cannot be revoked' }) }
 */
export function errorResponses(statuses: readonly ErrorStatus[], descriptions: Partial<Record<ErrorStatus, string>> = {}) {
  const responses: Record<number, object> = {};
  for (const status of statuses) {
    const description = descriptions[status] ?? ERROR_DESCRIPTIONS[status];
    responses[status] =
      status === 429
        ? { ...errorResponse, description, headers: { 'Retry-After': { type: 'integer', description: 'Seconds to wait before trying again' } } }
        : { ...errorResponse, description };
  }
  return responses;
}

/** A response without a body (204). */
export function noContent(description: string) {
  return { type: 'null', description } as const;
}

// ---- response bodies ------------------------------------------------------------------------
// One schema per resource builder of src/server/json-api.ts, in the same order of properties.

const dateTime = { type: 'string', format: 'date-time' } as const;
const nullableDateTime = { type: ['string', 'null'], format: 'date-time' } as const;
const nullableString = { type: ['string', 'null'] } as const;

function typeTag(type: string) {
  return { type: 'string', enum: [type] } as const;
}

/** `{"data":{"type":TYPE,"id":…}}`, `data` null when `nullable` (a key created by the system has no creator). */
function relationship(type: string, nullable: boolean) {
  return {
    type: 'object',
    required: ['data'],
    properties: {
      data: { type: nullable ? ['object', 'null'] : 'object', required: ['type', 'id'], properties: { type: typeTag(type), id: { type: 'string' } } },
    },
  } as const;
}

/**
 * `attributes.key`, the key itself, is in the schema of the responses that create a key and in
 * no other: there it is required, anywhere else fast-json-stringify could not write it even if
 * a handler passed it on. (Listing it as optional instead would also reorder the attributes:
 * fast-json-stringify writes required properties first.)
 */
function secretKey(secret: boolean) {
  return secret ? { key: { type: 'string', description: 'The key itself: in this response only, never again' } } : {};
}

function apiKeySchema(secret: boolean) {
  return {
    type: 'object',
    required: ['type', 'id', 'attributes', 'relationships'],
    properties: {
      type: typeTag('api_keys'),
      id: { type: 'string' },
      attributes: {
        type: 'object',
        required: [
          'name',
          ...(secret ? ['key'] : []),
          'last4',
          'category',
          'created_at',
          'modified_at',
          'date_last_used',
          'used_in_last_24_hours',
          'remote_config_read_enabled',
          'status',
          'expires_at',
          'revoked_at',
        ],
        properties: {
          name: { type: 'string' },
          ...secretKey(secret),
          last4: { type: 'string' },
          category: { type: 'string' },
          created_at: dateTime,
          modified_at: dateTime,
          date_last_used: nullableDateTime,
          used_in_last_24_hours: { type: 'boolean' },
          remote_config_read_enabled: { type: 'boolean' },
          status: { type: 'string', enum: ['active', 'revoked'], description: 'extension' },
          expires_at: { ...nullableDateTime, description: 'extension: when a rolled key stops working' },
          revoked_at: { ...nullableDateTime, description: 'extension' },
        },
      },
      relationships: {
        type: 'object',
        required: ['created_by', 'modified_by'],
        properties: {
          created_by: relationship('users', true),
          modified_by: relationship('users', true),
          rolled_from: { ...relationship('api_keys', false), description: 'extension: the key this one replaced by a roll' },
        },
      },
    },
  } as const;
}

/** An API key (`apiKeyResource`), as read back: without the key. */
export const apiKeyResourceSchema = apiKeySchema(false);
/** An API key in the response that creates it (create, roll): with the key. */
export const createdApiKeyResourceSchema = apiKeySchema(true);

function appKeySchema(secret: boolean) {
  return {
    type: 'object',
    required: ['type', 'id', 'attributes', 'relationships'],
    properties: {
      type: typeTag('application_keys'),
      id: { type: 'string' },
      attributes: {
        type: 'object',
        required: ['name', ...(secret ? ['key'] : []), 'last4', 'created_at', 'modified_at', 'last_used_at', 'scopes'],
        properties: {
          name: { type: 'string' },
          ...secretKey(secret),
          last4: { type: 'string' },
          created_at: dateTime,
          modified_at: { ...dateTime, description: 'extension' },
          last_used_at: nullableDateTime,
          scopes: { type: ['array', 'null'], items: { type: 'string' } },
        },
      },
      relationships: { type: 'object', required: ['owned_by'], properties: { owned_by: relationship('users', false) } },
    },
  } as const;
}

/** An application key (`appKeyResource`), as read back: without the key. */
export const appKeyResourceSchema = appKeySchema(false);
/** An application key in the response that creates it: with the key. */
export const createdAppKeyResourceSchema = appKeySchema(true);

/** A user in `included` (`userResource`). */
export const userResourceSchema = {
  type: 'object',
  required: ['type', 'id', 'attributes'],
  properties: {
    type: typeTag('users'),
    id: { type: 'string' },
    attributes: {
      type: 'object',
      required: ['name', 'handle', 'email', 'created_at', 'disabled', 'status', 'verified', 'service_account', 'role'],
      properties: {
        name: { type: 'string' },
        handle: { type: 'string' },
        email: { type: 'string' },
        created_at: dateTime,
        disabled: { type: 'boolean' },
        status: { type: 'string', enum: ['Active', 'Disabled'] },
        verified: { type: 'boolean' },
        service_account: { type: 'boolean' },
        role: { type: 'string', enum: ['admin', 'standard', 'read_only'], description: 'extension' },
      },
    },
  },
} as const;

/** One host's use of an API key (`keyHostResource`). */
export const keyHostResourceSchema = {
  type: 'object',
  required: ['type', 'id', 'attributes'],
  properties: {
    type: typeTag('api_key_hosts'),
    id: { type: 'string', description: 'The host name' },
    attributes: {
      type: 'object',
      required: ['host', 'first_seen', 'last_seen', 'points', 'agent_version'],
      properties: {
        host: { type: 'string' },
        first_seen: dateTime,
        last_seen: dateTime,
        points: { type: 'integer', description: 'Points received with this key from this host' },
        agent_version: nullableString,
      },
    },
  },
} as const;

/** An audit event in Datadog's Audit Trail shape (`auditEventResource`). */
export const auditEventResourceSchema = {
  type: 'object',
  required: ['type', 'id', 'attributes'],
  properties: {
    type: typeTag('audit'),
    id: { type: 'string' },
    attributes: {
      type: 'object',
      required: ['timestamp', 'service', 'message', 'tags', 'attributes'],
      properties: {
        timestamp: dateTime,
        service: { type: 'string' },
        message: { type: 'string' },
        tags: { type: 'array', items: { type: 'string' } },
        attributes: {
          type: 'object',
          required: ['evt', 'usr', 'network', 'target', 'org', 'details'],
          properties: {
            evt: { type: 'object', required: ['name'], properties: { name: { type: 'string', description: 'The action, e.g. api_key.revoke' } } },
            usr: { type: 'object', required: ['id', 'kind'], properties: { id: nullableString, kind: { type: 'string', enum: ['user', 'cli', 'system'] } } },
            network: {
              type: 'object',
              required: ['client'],
              properties: { client: { type: 'object', required: ['ip'], properties: { ip: nullableString } } },
            },
            target: { type: 'object', required: ['type', 'id'], properties: { type: { type: 'string' }, id: nullableString } },
            org: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
            details: {
              type: 'object',
              additionalProperties: true,
              description: 'What the action changed; keys depend on the action. Never a key, at most its last4',
            },
          },
        },
      },
    },
  },
} as const;

/** `{"data":RESOURCE,"included"?:[…]}`; `included` only when the route can include something. */
export function jsonApiDocument(description: string, data: object, included?: object) {
  return {
    type: 'object',
    description,
    required: ['data'],
    properties: { data, ...(included === undefined ? {} : { included: { type: 'array', items: included } }) },
  } as const;
}

/**
 * `{"data":[RESOURCE…],"included"?:[…],"meta":{"page":{"total_filtered_count":N}}}`, as
 * Datadog's list endpoints answer; `meta` as given adds properties (the audit trail's `status`).
 * `meta` is always sent, but is marked required only when there is no `included`: fast-json-stringify
 * writes required properties first, and the body keeps its order (data, included, meta).
 */
export function jsonApiList(description: string, data: object, options: { included?: object; meta?: Record<string, object> } = {}) {
  return {
    type: 'object',
    description,
    required: options.included === undefined ? ['data', 'meta'] : ['data'],
    properties: {
      data: { type: 'array', items: data },
      ...(options.included === undefined ? {} : { included: { type: 'array', items: options.included } }),
      meta: {
        type: 'object',
        required: ['page', ...Object.keys(options.meta ?? {})],
        properties: {
          page: {
            type: 'object',
            required: ['total_filtered_count'],
            properties: { total_filtered_count: { type: 'integer', description: 'Items matching the filters, on every page' } },
          },
          ...options.meta,
        },
        description: 'Always present',
      },
    },
  } as const;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when `id` can be an object id (a UUID): anything else is simply not found, without a query. */
export function isObjectId(id: string): boolean {
  return UUID.test(id);
}
