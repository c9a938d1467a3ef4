/**
 * What Datadog's v1 key endpoints (v1-api-key-routes.ts, v1-app-key-routes.ts) show that v2
 * does not: a creation time in v1's own format and users by email rather than by id.
 */
import type { Store } from '../../store/store.js';

/** `2019-08-05 09:43:19`: Datadog v1's `created` (UTC; the zorkian client parses exactly this layout). */
export function v1Created(at: Date): string {
  return at.toISOString().slice(0, 19).replace('T', ' ');
}

/** The emails of the users `ids` (nulls and unknown users left out), read once each. */
export async function v1CreatorEmails(store: Store, orgId: string, ids: ReadonlyArray<string | null>): Promise<Map<string, string>> {
  const wanted = [...new Set(ids.filter((id): id is string => id !== null))];
  const users = await Promise.all(wanted.map((id) => store.getUser(orgId, id)));
  const emails = new Map<string, string>();
  for (const user of users) if (user !== undefined) emails.set(user.id, user.email);
  return emails;
}
