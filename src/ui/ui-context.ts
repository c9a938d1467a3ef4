/**
 * What every UI route needs: the store and hasher, the sessions, and the signed-in user of
 * the current request (set by the plugin's authentication hook).
 */
import type { FastifyRequest } from 'fastify';
import { rekeyError } from '../errors.js';
import type { KeyHasher } from '../keys/key-hasher.js';
import type { Actor, Org, Role, Store, User } from '../store/store.js';
import type { LoginThrottle } from './login-throttle.js';
import type { Session, SessionStore } from './session-store.js';

export interface UiDeps {
  store: Store;
  hasher: KeyHasher;
  sessions: SessionStore;
  throttle: LoginThrottle;
  now: () => Date;
}

/** The signed-in user of a request, loaded fresh from the store on every request. */
export interface Viewer {
  session: Session;
  user: User;
  org: Org;
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

/** Who may do what in the UI (the same rules as the management API). */
export const CAN = {
  manageApiKeys: (role: Role) => role === 'admin',
  manageOwnAppKeys: (role: Role) => role !== 'read_only',
  manageUsers: (role: Role) => role === 'admin',
  viewUsers: (role: Role) => role === 'admin',
} as const;

/** Throws FORBIDDEN (403) unless the viewer's role passes `check`. */
export function requireCapability(request: FastifyRequest, check: (role: Role) => boolean): Viewer {
  const viewer = viewerOf(request);
  if (!check(viewer.user.role)) throw rekeyError('FORBIDDEN');
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
