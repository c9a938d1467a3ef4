/**
 * JSON schemas shared by the management routes: path parameters, JSON:API request bodies and
 * the error body. Validated by Fastify and published in `/api/openapi.json`.
 */
export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

/** `{"data":{"type":TYPE,"id"?,"attributes":{…}}}` with `attributes` as given. */
export function jsonApiBody(type: string, attributes: Record<string, unknown>, options: { requireId?: boolean; requireAttributes?: readonly string[]; optional?: boolean } = {}) {
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

export const errorResponse = {
  type: 'object',
  properties: { errors: { type: 'array', items: { type: 'string' } } },
} as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when `id` can be an object id (a UUID): anything else is simply not found, without a query. */
export function isObjectId(id: string): boolean {
  return UUID.test(id);
}
