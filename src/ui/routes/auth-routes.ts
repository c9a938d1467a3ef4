/**
 * Sign-in and sign-out. Sign-in attempts are counted before the password is checked, delayed
 * progressively per (email, address) and capped per address (login-throttle.ts) and audited (`user.login_failed`, in the user's organisation when the
 * email exists); an unknown email costs the same scrypt work as a wrong password, so timing
 * does not reveal which emails exist.
 */
import { randomBytes } from 'node:crypto';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorCatalogue, rekeyError } from '../../errors.js';
import { constantTimeEqual } from '../../keys/key-hasher.js';
import { hashPassword, verifyPassword } from '../../keys/password.js';
import { loginPage } from '../pages/login-page.js';
import { LOGIN_CSRF_COOKIE, type SessionCookie } from '../session-cookie.js';
import { field, viewerOf, type UiDeps } from '../ui-context.js';

const DEFAULT_NEXT = '/keys';
// Browsers drop tabs and newlines from URLs and read a backslash as a slash, so
// `/<TAB>/evil.example` or `/\\evil.example` would become `//evil.example`: refused outright.
const UNSAFE_IN_NEXT = /[\u0000-\u001f\u007f\\]/;

/**
 * Only a path on this site: `next` must not send a signed-in user to another site. Parsed as
 * a browser would (against a dummy origin) and accepted only when it stays on that origin;
 * returned re-serialised (path, query, fragment), so what the browser follows is what was
 * checked.
 */
export function safeNext(next: string | undefined): string {
  if (!next || next.length > 2048 || !next.startsWith('/') || next.startsWith('//') || UNSAFE_IN_NEXT.test(next)) return DEFAULT_NEXT;
  let url: URL;
  try {
    url = new URL(next, 'http://rekey.invalid');
  } catch {
    return DEFAULT_NEXT;
  }
  if (url.origin !== 'http://rekey.invalid') return DEFAULT_NEXT;
  const path = `${url.pathname}${url.search}${url.hash}`;
  return path.startsWith('/') && !path.startsWith('//') ? path : DEFAULT_NEXT;
}

/** `?next=PATH`: where to go after signing in (checked by safeNext). */
const loginQueryT = Type.Object({ next: Type.Optional(Type.String()) });

export function registerAuthRoutes(fastify: FastifyInstance, deps: UiDeps, cookie: SessionCookie): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { store, sessions, throttle } = deps;
  let dummyHash: Promise<string> | undefined;

  const issueLoginForm = (request: FastifyRequest, reply: FastifyReply, input: { status?: number; email?: string; error?: string; next?: string }) => {
    const token = randomBytes(24).toString('base64url');
    reply.setCookie(LOGIN_CSRF_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: request.protocol === 'https', path: '/login', maxAge: 3600 });
    return reply
      .code(input.status ?? 200)
      .type('text/html; charset=utf-8')
      .send(
        loginPage({
          csrfToken: token,
          ...(input.email ? { email: input.email } : {}),
          ...(input.error ? { error: input.error } : {}),
          ...(input.next ? { next: input.next } : {}),
        }),
      );
  };

  app.get('/', { config: { rekeyUiPublic: true } }, async (request, reply) => reply.redirect(sessions.get(cookie.read(request)) ? '/keys' : '/login', 303));

  app.get('/login', { config: { rekeyUiPublic: true }, schema: { querystring: loginQueryT } }, async (request, reply) => {
    if (sessions.get(cookie.read(request))) return reply.redirect('/keys', 303);
    const { next } = request.query;
    return issueLoginForm(request, reply, { ...(next ? { next: safeNext(next) } : {}) });
  });

  app.post('/login', { config: { rekeyUiPublic: true } }, async (request, reply) => {
    const formToken = field(request, '_csrf');
    const cookieToken = request.cookies[LOGIN_CSRF_COOKIE] ?? '';
    if (cookieToken === '' || !constantTimeEqual(formToken, cookieToken)) throw rekeyError('CSRF_TOKEN_INVALID');

    const email = field(request, 'email').trim();
    const password = field(request, 'password');
    const next = safeNext(field(request, 'next') || undefined);
    const ip = request.ip;

    // Counted before the password is checked: parallel attempts cannot all pass this check
    // while the first ones are still hashing (login-throttle.ts).
    const attempt = throttle.begin(ip, email);
    if (!attempt.allowed) {
      reply.header('retry-after', String(attempt.retryAfterSeconds));
      return issueLoginForm(request, reply, {
        status: 429,
        email,
        error: errorCatalogue.RATE_LIMITED.message({ retryAfterSeconds: attempt.retryAfterSeconds }),
        next,
      });
    }

    const user = email === '' ? undefined : await store.findUserByEmail(email);
    dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
    const ok =
      user !== undefined && !user.disabled ? await verifyPassword(password, user.passwordHash) : (await verifyPassword(password, await dummyHash), false);

    if (!ok || user === undefined) {
      if (user !== undefined) {
        await store.recordAudit(user.orgId, 'user.login_failed', { type: 'user', id: user.id }, { userId: null, kind: 'user', sourceIp: ip }, { via: 'web' });
      } else {
        request.log.info({ sourceIp: ip }, 'web sign-in failed for an unknown email');
      }
      return issueLoginForm(request, reply, { status: 401, email, error: errorCatalogue.SIGN_IN_FAILED.message(), next });
    }

    throttle.succeeded(attempt);
    const session = sessions.create(user.id, user.orgId);
    cookie.write(request, reply, session.id, sessions.ttl);
    reply.clearCookie(LOGIN_CSRF_COOKIE, { path: '/login' });
    await store.recordAudit(user.orgId, 'user.login', { type: 'user', id: user.id }, { userId: user.id, kind: 'user', sourceIp: ip }, { via: 'web' });
    return reply.redirect(next, 303);
  });

  app.post('/logout', async (request, reply) => {
    const viewer = viewerOf(request);
    sessions.destroy(viewer.session.id);
    cookie.clear(request, reply);
    await store.recordAudit(
      viewer.org.id,
      'user.logout',
      { type: 'user', id: viewer.user.id },
      { userId: viewer.user.id, kind: 'user', sourceIp: request.ip },
      { via: 'web' },
    );
    return reply.redirect('/login', 303);
  });
}
