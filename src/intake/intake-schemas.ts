/**
 * The OpenAPI responses of the intake routes (published in /api/openapi.json, so in
 * docs/api.md): Datadog's 202 answers and the intake's refusals, each as `{"errors":[…]}`.
 * The 202 schemas also serialise the answers, so they list every property the routes send.
 */
import { Type } from 'typebox';
import { errorResponse } from '../server/routes/json-api-schemas.js';

const errors = Type.Array(Type.String(), { description: 'The series left out, one message each' });

/** `{"status":"ok"}`, plus `errors` naming the refused series (v1 series). */
export const V1_ACCEPTED_SCHEMA = Type.Object(
  { status: Type.String({ description: 'Always ok' }), errors: Type.Optional(errors) },
  { description: 'Accepted and stored: {"status":"ok"}' },
);

/** Datadog's IntakePayloadAccepted, `{"errors":[…]}` (v2 series). */
export const V2_ACCEPTED_SCHEMA = Type.Object({ errors }, { description: "Accepted and stored (Datadog's IntakePayloadAccepted)" });

const retryAfter = { 'Retry-After': { type: 'integer', description: 'Seconds to wait before trying again' } };

/** Every refusal of an intake route. */
export const INTAKE_ERROR_RESPONSES = {
  400: { ...errorResponse, description: 'The payload is malformed, or holds no valid series' },
  403: { ...errorResponse, description: 'Forbidden: the API key is missing, malformed, unknown, revoked or expired' },
  413: { ...errorResponse, description: 'Over the byte limits or the work caps (series, points, tags, JSON values)' },
  415: { ...errorResponse, description: 'Unknown Content-Encoding' },
  429: { ...errorResponse, description: 'Over a rate limit (per address, per key, unknown keys, refused payloads)', headers: retryAfter },
  503: { ...errorResponse, description: 'The data could not be stored; retry after Retry-After seconds', headers: retryAfter },
};
