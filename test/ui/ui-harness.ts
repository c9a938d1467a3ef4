/**
 * A deployment for UI tests: a fresh store (SQLite unless a dialect is given) with one organisation, an admin, a
 * standard and a read_only user and one API key, served by the UI plugin on a Fastify
 * instance of its own (so these tests do not depend on the rest of the server), plus helpers
 * that sign in through the real form with `inject`.
 */
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { generateKey, last4 } from '../../src/keys/key-format.js';
import { createKeyHasher, type KeyHasher } from '../../src/keys/key-hasher.js';
import { hashPassword } from '../../src/keys/password.js';
import type { Actor, ApiKey, Org, Role, Store, User } from '../../src/store/store.js';
import { uiPlugin, type UiPluginOptions } from '../../src/ui/ui-plugin.js';
import { CLI_ACTOR, SQLITE, type TestDialect, type TestStore } from '../support/dialects.js';

export interface SeededUser {
  user: User;
  email: string;
  password: string;
}

export interface UiDeployment {
  testStore: TestStore;
  store: Store;
  hasher: KeyHasher;
  org: Org;
  users: Record<Role, SeededUser>;
  firstKey: ApiKey;
  destroy(): Promise<void>;
}

export async function createUser(store: Store, orgId: string, role: Role, email: string, actor: Actor = CLI_ACTOR): Promise<SeededUser> {
  const password = `pw-${role}-${Math.random().toString(36).slice(2)}`;
  const user = await store.createUser(orgId, { email, name: `${role} user`, role, passwordHash: await hashPassword(password) }, actor);
  return { user, email, password };
}

export async function createDeployment(orgName = 'acme', dialect: TestDialect = SQLITE): Promise<UiDeployment> {
  const testStore = await dialect.createStore();
  const { store } = testStore;
  const hasher = createKeyHasher(await store.deploymentSecret());
  const org = await store.createOrg(orgName, CLI_ACTOR);
  const suffix = Math.random().toString(36).slice(2, 8);
  const users = {
    admin: await createUser(store, org.id, 'admin', `admin-${suffix}@${orgName}.test`),
    standard: await createUser(store, org.id, 'standard', `std-${suffix}@${orgName}.test`),
    read_only: await createUser(store, org.id, 'read_only', `ro-${suffix}@${orgName}.test`),
  };
  const secret = generateKey('api');
  const firstKey = await store.createApiKey(org.id, { name: 'first key', hash: hasher.hash(secret), last4: last4(secret) }, CLI_ACTOR);
  return { testStore, store, hasher, org, users, firstKey, destroy: () => testStore.destroy() };
}

export async function uiApp(deployment: UiDeployment, options: Partial<UiPluginOptions> = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await app.register(uiPlugin, { store: deployment.store, hasher: deployment.hasher, ...options });
  await app.ready();
  return app;
}

/** `name=value` pairs from a response's Set-Cookie headers. */
export function cookiesOf(response: LightMyRequestResponse): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of response.cookies as Array<{ name: string; value: string }>) out[c.name] = c.value;
  return out;
}

export function cookieHeader(cookies: Record<string, string>): string {
  return Object.entries(cookies)
    .map(([k, v]) => `${k}=${v}`)
    .join('; ');
}

/** The value of the first hidden `_csrf` field in a page. */
export function csrfOf(body: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(body);
  if (!match) throw new Error('no _csrf field in the page');
  return match[1]!;
}

export function hiddenField(body: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]+)"`).exec(body);
  if (!match) throw new Error(`no ${name} field in the page`);
  return match[1]!;
}

export function form(fields: Record<string, string>): { payload: string; headers: Record<string, string> } {
  return { payload: new URLSearchParams(fields).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } };
}

export interface SignedIn {
  cookies: Record<string, string>;
  csrf: string;
  get(url: string): Promise<LightMyRequestResponse>;
  post(url: string, fields: Record<string, string>, options?: { csrf?: string | null }): Promise<LightMyRequestResponse>;
}

/** Signs in through GET /login + POST /login, as a browser does. */
export async function signIn(app: FastifyInstance, who: SeededUser): Promise<SignedIn> {
  const loginForm = await app.inject({ method: 'GET', url: '/login' });
  const loginCookies = cookiesOf(loginForm);
  const { payload, headers } = form({ _csrf: csrfOf(loginForm.body), email: who.email, password: who.password });
  const response = await app.inject({ method: 'POST', url: '/login', payload, headers: { ...headers, cookie: cookieHeader(loginCookies) } });
  if (response.statusCode !== 303) throw new Error(`sign-in failed: ${response.statusCode} ${response.body.slice(0, 300)}`);
  const cookies = { rekey_session: cookiesOf(response).rekey_session! };
  const keysPage = await app.inject({ method: 'GET', url: '/keys', headers: { cookie: cookieHeader(cookies) } });
  const csrf = csrfOf(keysPage.body);
  return {
    cookies,
    csrf,
    get: (url) => app.inject({ method: 'GET', url, headers: { cookie: cookieHeader(cookies) } }),
    post: (url, fields, options = {}) => {
      const token = options.csrf === undefined ? csrf : options.csrf;
      const body = form(token === null ? fields : { _csrf: token, ...fields });
      return app.inject({ method: 'POST', url, payload: body.payload, headers: { ...body.headers, cookie: cookieHeader(cookies) } });
    },
  };
}
