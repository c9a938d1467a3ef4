/**
 * Web UI sessions: an opaque random id in an HttpOnly, SameSite=Strict cookie, mapped here to
 * who signed in, until when, and the session's CSRF token.
 *
 * Sessions live in this process's memory, so they are PER NODE: behind a load balancer
 * with several rekey server nodes, use sticky sessions for the UI (the API and intake are
 * stateless and need none). A restart signs everybody out, which is acceptable for an
 * admin console and keeps session secrets out of the database.
 */
import { randomBytes } from 'node:crypto';

export interface Session {
  readonly id: string;
  readonly userId: string;
  readonly orgId: string;
  /** Sent back in a hidden field by every form and checked on every POST. */
  readonly csrfToken: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  /** A notice for the next page after a redirect ("Key renamed"). Never a key. */
  flash: { kind: 'ok' | 'error'; text: string } | null;
  /**
   * One-time ids of forms that create a secret (create key, roll key, create user). A resent
   * POST (browser reload) finds its id used and does not create a second secret.
   */
  readonly usedFormIds: Set<string>;
}

export interface SessionStoreOptions {
  ttlMs: number;
  /** Bound on live sessions; the oldest are dropped beyond it. Default 10,000. */
  maxSessions?: number;
  now?: () => number;
}

const MAX_USED_FORM_IDS = 200;

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly ttlMs: number;
  private readonly maxSessions: number;
  private readonly now: () => number;

  constructor(options: SessionStoreOptions) {
    if (!(options.ttlMs > 0)) throw new Error('sessionTtlMs must be positive');
    this.ttlMs = options.ttlMs;
    this.maxSessions = options.maxSessions ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  create(userId: string, orgId: string): Session {
    this.sweep();
    const now = this.now();
    const session: Session = {
      id: randomBytes(32).toString('base64url'),
      userId,
      orgId,
      csrfToken: randomBytes(32).toString('base64url'),
      createdAt: now,
      expiresAt: now + this.ttlMs,
      flash: null,
      usedFormIds: new Set(),
    };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The live session for `id`, or undefined when unknown or expired (an expired one is dropped). */
  get(id: string | undefined): Session | undefined {
    if (id === undefined) return undefined;
    const session = this.sessions.get(id);
    if (session === undefined) return undefined;
    if (session.expiresAt <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return session;
  }

  destroy(id: string): void {
    this.sessions.delete(id);
  }

  /** Ends every session of a user (e.g. after a password change). */
  destroyUser(userId: string): void {
    for (const [id, session] of this.sessions) if (session.userId === userId) this.sessions.delete(id);
  }

  /** Marks a one-time form id as used; false when it was used before. */
  consumeFormId(session: Session, formId: string): boolean {
    if (session.usedFormIds.has(formId)) return false;
    if (session.usedFormIds.size >= MAX_USED_FORM_IDS) {
      const oldest = session.usedFormIds.values().next().value;
      if (oldest !== undefined) session.usedFormIds.delete(oldest);
    }
    session.usedFormIds.add(formId);
    return true;
  }

  get size(): number {
    return this.sessions.size;
  }

  get ttl(): number {
    return this.ttlMs;
  }

  /** Drops expired sessions, then the oldest beyond the bound (Map keeps insertion order). */
  private sweep(): void {
    const now = this.now();
    for (const [id, session] of this.sessions) if (session.expiresAt <= now) this.sessions.delete(id);
    while (this.sessions.size >= this.maxSessions) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
  }
}
