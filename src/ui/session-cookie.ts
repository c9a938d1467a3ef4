/**
 * The session cookie: HttpOnly (no script can read it), SameSite=Strict (no other site can
 * make the browser send it, the first line against CSRF; the per-session token is the
 * second), Secure when the request arrived over HTTPS, Path=/.
 *
 * With a `cookieSecret` the value is `id.signature` (HMAC-SHA256): a forged or truncated id
 * is refused before the session map is consulted. Without one the id alone (256 random
 * bits) is the credential.
 */
import { createHmac } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { constantTimeEqual } from '../keys/key-hasher.js';

export const SESSION_COOKIE = 'rekey_session';
export const LOGIN_CSRF_COOKIE = 'rekey_login_csrf';

export class SessionCookie {
  constructor(private readonly secret: string | undefined) {}

  read(request: FastifyRequest): string | undefined {
    const raw = request.cookies[SESSION_COOKIE];
    if (raw === undefined || raw === '') return undefined;
    if (this.secret === undefined) return raw;
    const dot = raw.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const id = raw.slice(0, dot);
    return constantTimeEqual(raw.slice(dot + 1), this.sign(id)) ? id : undefined;
  }

  write(request: FastifyRequest, reply: FastifyReply, sessionId: string, maxAgeMs: number): void {
    const value = this.secret === undefined ? sessionId : `${sessionId}.${this.sign(sessionId)}`;
    reply.setCookie(SESSION_COOKIE, value, {
      httpOnly: true,
      sameSite: 'strict',
      secure: request.protocol === 'https',
      path: '/',
      maxAge: Math.floor(maxAgeMs / 1000),
    });
  }

  clear(request: FastifyRequest, reply: FastifyReply): void {
    reply.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', secure: request.protocol === 'https', path: '/' });
  }

  private sign(id: string): string {
    return createHmac('sha256', this.secret!).update(id).digest('base64url');
  }
}
