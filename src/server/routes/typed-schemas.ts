/**
 * TypeBox versions of the request schemas of json-api-schemas.ts, for the routes that use the
 * TypeBox type provider (`app.withTypeProvider<TypeBoxTypeProvider>()`): one schema gives
 * Fastify's validation (its own Ajv, so the 400 messages are the ones documented), the
 * handler's `request.params/query/body` types, and the OpenAPI document. They emit the same
 * JSON schema as `idParams` and `jsonApiBody` there.
 */
import { Type, type TSchema } from 'typebox';

/** `:id` in the path (any string up to 64; the route answers 404 for one that cannot exist). */
export const idParamsT = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

/** A name of a key: 1 to 255 characters. */
export const keyNameT = Type.String({ minLength: 1, maxLength: 255 });

/** `{"data":{"type":TYPE,"id"?,"attributes":{…}}}`, data and attributes required. */
export function jsonApiBodyT<T extends string, A extends TSchema>(type: T, attributes: A) {
  return Type.Object({
    data: Type.Object({
      type: Type.Optional(Type.Enum([type], { type: 'string' })),
      id: Type.Optional(Type.String()),
      attributes,
    }),
  });
}

/** As `jsonApiBodyT`, but the body, data and attributes may all be absent. */
export function optionalJsonApiBodyT<T extends string, A extends TSchema>(type: T, attributes: A) {
  return Type.Object({
    data: Type.Optional(
      Type.Object({
        type: Type.Optional(Type.Enum([type], { type: 'string' })),
        id: Type.Optional(Type.String()),
        attributes: Type.Optional(attributes),
      }),
    ),
  });
}
