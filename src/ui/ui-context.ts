/**
 * What every UI route needs: the store and hasher, the sessions, and the signed-in user of
 * the current request (set by the plugin's authentication hook).
 */
import type { FastifyRequest } from 'fastify';
import { can, type Action } from '../access/policy.js';
import { rekeyError } from '../errors.js';
import type { KeyHasher } from '../keys/key-hasher.js';
import type { Actor, KeyUsageMinute, Org, Role, Store, User } from '../store/store.js';
import type { LoginThrottle } from './login-throttle.js';
import type { Session, SessionStore } from './session-store.js';

export interface UiDeps {
  store: Store;
  hasher: KeyHasher;
  sessions: SessionStore;
  throttle: LoginThrottle;
  now: () => Date;
  /** A key's usage minutes in [from, to] (epoch ms), the intake's unwritten ones included (the key page's chart). */
  usageMinutes: (orgId: string, keyId: string, from: number, to: number) => Promise<KeyUsageMinute[]>;
  /** Why this node's relay holds or is late delivering the organisation's payloads (the banner); none without a relay. */
  relayProblems: (orgId: string) => string[];
}

/** The signed-in user of a request, loaded fresh from the store on every request. */
export interface Viewer {
  session: Session;
  user: User;
  org: Org;
  /**
   * For admins only: why this node's relay holds (upstream answers 403) or is late delivering
   * the organisation's payloads — what /healthz reports as degraded. Every page shows it as a banner.
   */
  relayProblems?: readonly string[];
}

declare module 'fastify' {
  interface FastifyRequest {
    rekeyViewer: Viewer | null;
  }
}

export function viewerOf(request: FastifyRequest): Viewer {
  const viewer = request.rekeyViewer;
  if (viewer === null) throw rekeyError('UNAUTHORIZED');
  return viewer;
}

export function actorOf(request: FastifyRequest): Actor {
  return { userId: viewerOf(request).user.id, kind: 'user', sourceIp: request.ip };
}

/**
 * Who may do what in the UI: the management API's policy (src/access/policy.ts), asked for the
 * signed-in user's role (a session has no scopes). Kept as named checks for the pages.
 */
export const CAN = {
  manageApiKeys: (role: Role) => can({ role }, 'api_keys:write'),
  manageOwnAppKeys: (role: Role) => can({ role }, 'own_app_keys:write'),
  manageUsers: (role: Role) => can({ role }, 'users:write'),
  viewUsers: (role: Role) => can({ role }, 'users:read'),
  viewAudit: (role: Role) => can({ role }, 'audit:read'),
  viewUpstream: (role: Role) => can({ role }, 'upstream:read'),
} as const;

/** Throws FORBIDDEN (403) unless the viewer may do `check`: an action of the policy, or one of `CAN`. */
export function requireCapability(request: FastifyRequest, check: Action | ((role: Role) => boolean)): Viewer {
  const viewer = viewerOf(request);
  const allowed = typeof check === 'string' ? can({ role: viewer.user.role }, check) : check(viewer.user.role);
  if (!allowed) throw rekeyError('FORBIDDEN');
  return viewer;
}

/** Form bodies as @fastify/formbody parses them: a field may repeat. */
export type FormBody = Record<string, string | string[] | undefined>;

export function field(request: FastifyRequest, name: string): string {
  const body = (request.body ?? {}) as FormBody;
  const value = body[name];
  if (Array.isArray(value)) return value[0] ?? '';
  return value ?? '';
}
