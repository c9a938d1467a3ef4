/**
 * One parameter of the query string Fastify parsed, read where the route's schema has not
 * typed it (an authentication hook shared by many routes): a string, a list when repeated,
 * or undefined.
 */
export function queryParameter(query: unknown, name: string): unknown {
  if (typeof query !== 'object' || query === null || !Object.hasOwn(query, name)) return undefined;
  const value: unknown = Reflect.get(query, name);
  return value;
}
