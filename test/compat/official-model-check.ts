/**
 * The official client deserializes leniently: a field of the wrong type is copied as it is, an
 * unknown enum value becomes an `UnparsedObject` and marks its parent `_unparsed`, and only a
 * missing required field throws. So that "the client accepted the response" means "Datadog's
 * model describes it", `assertParsed` walks what a call returned against the model's own
 * attribute type map (`getAttributeTypeMap`): every declared field present has the declared
 * type (string, number, boolean, Date, array, nested model), and nothing is unparsed.
 *
 * Fields Datadog's model does not declare land in `additionalProperties`; they are rekey's
 * documented extensions and allowed (use `extras` to see them).
 */
import assert from 'node:assert/strict';

interface Attribute {
  baseName: string;
  type: string;
  format?: string;
}
interface ModelClass {
  getAttributeTypeMap(): Record<string, Attribute>;
}

function isModel(value: unknown): value is { constructor: ModelClass } {
  return typeof value === 'object' && value !== null && typeof (value.constructor as Partial<ModelClass>).getAttributeTypeMap === 'function';
}

function checkValue(value: unknown, type: string, path: string): void {
  if (value === undefined || value === null) return;
  if (type.startsWith('Array<')) {
    assert.ok(Array.isArray(value), `${path}: expected an array, got ${JSON.stringify(value)}`);
    const inner = type.slice('Array<'.length, -1);
    value.forEach((item, index) => checkValue(item, inner, `${path}[${index}]`));
    return;
  }
  if (type === 'string') return assert.equal(typeof value, 'string', `${path}: expected a string, got ${JSON.stringify(value)}`);
  if (type === 'number') return assert.equal(typeof value, 'number', `${path}: expected a number, got ${JSON.stringify(value)}`);
  if (type === 'boolean') return assert.equal(typeof value, 'boolean', `${path}: expected a boolean, got ${JSON.stringify(value)}`);
  if (type === 'Date') return assert.ok(value instanceof Date && !Number.isNaN(value.getTime()), `${path}: expected a date, got ${String(value)}`);
  if (type === 'any' || type.startsWith('{ [key: string]')) return;
  // An enum the client recognised comes back as the plain value (an unknown one as UnparsedObject).
  if (typeof value !== 'object') return;
  assertParsed(value, path);
}

/** Fails unless `value` (a model the client returned) matches its model's declared types throughout. */
export function assertParsed(value: unknown, path = 'response'): void {
  assert.ok(typeof value === 'object' && value !== null, `${path}: expected an object, got ${JSON.stringify(value)}`);
  assert.notEqual(value.constructor?.name, 'UnparsedObject', `${path}: the client could not parse ${JSON.stringify((value as { _data?: unknown })._data)}`);
  assert.notEqual((value as { _unparsed?: boolean })._unparsed, true, `${path}: the client marked it unparsed`);
  if (!isModel(value)) return; // an enum value or a oneOf already resolved to a plain value
  for (const [attribute, spec] of Object.entries(value.constructor.getAttributeTypeMap())) {
    if (attribute === 'additionalProperties') continue;
    checkValue((value as unknown as Record<string, unknown>)[attribute], spec.type, `${path}.${spec.baseName}`);
  }
}

/** The fields of `value` its Datadog model does not declare (rekey's extensions). */
export function extras(value: unknown): string[] {
  return Object.keys((value as { additionalProperties?: Record<string, unknown> }).additionalProperties ?? {});
}
