/**
 * Users: `/api/v2/users…` in the shape of Datadog's v2 Users API, and rekey's own password
 * routes (Datadog has no password API). Every change is the store's (src/store/store.ts,
 * "User lifecycle"), one transaction with its audit event; an organisation never loses its
 * last enabled admin (LAST_ACTIVE_ADMIN).
 *
 *  - `GET /api/v2/users`, `GET /api/v2/users/{id}`: `users:read` (admin; scope `user_access_read`).
 *  - `PATCH /api/v2/users/{id}` with `attributes.disabled`: disable (the user's web sessions end
 *    and their application keys stop working, kept as disabled) or enable (their keys stay
 *    disabled; `rekey user enable --app-keys` or the UI re-enables them). `users:write`
 *    (admin; scope `user_access_manage`).
 *  - `DELETE /api/v2/users/{id}`: deletes the user and their application keys; the audit trail
 *    keeps their events. NOTE: Datadog's DELETE only disables a user; rekey's removes it, as
 *    PATCH `disabled: true` already disables. `users:write`.
 *  - `POST /api/v2/users/{id}/reset_password` (extension): a generated password, in this
 *    response only (`Cache-Control: no-store`); ends the user's sessions and disables their
 *    application keys. `users:reset_password`: admin, through an unscoped key only (no scope
 *    grants it: the password signs in with the user's whole role).
 *  - `POST /api/v2/current_user/password` (extension): the caller changes their own password,
 *    giving the current one; ends their web sessions. Any role, through an unscoped key only
 *    (`own_password:write`); every attempt counts in the failed-authentication throttle
 *    before the current password is checked.
 *
 * Passwords are never logged nor put in an error; the request bodies that carry them are not
 * logged by the server's logger (it logs method, URL and status only).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { rekeyError } from '../../errors.js';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../../keys/password-rules.js';
import type { User } from '../../store/store.js';
import { UsersService } from '../../users/users-service.js';
import { userResource } from '../json-api.js';
import { authOf, authorize } from '../management-auth.js';
import type { ServerContext } from '../server-context.js';
import { errorResponses, isObjectId, jsonApiDocument, jsonApiList, noContent, userResourceSchema } from './json-api-schemas.js';
import { idParamsT, jsonApiBodyT } from './typed-schemas.js';

const tags = ['Users'];

const ONE_USER_ERRORS = errorResponses([400, 403, 404, 429]);
/** Disable and delete: also refused for the organisation's last enabled admin. */
const LAST_ADMIN_ERRORS = errorResponses([400, 403, 404, 429], {
  400: "Bad request; or the user is the organization's last enabled admin (LAST_ACTIVE_ADMIN), who can be neither disabled nor deleted",
});

/** A user resource with `attributes.password`: the reset response, and only it. */
const resetUserSchema = {
  ...userResourceSchema,
  properties: {
    ...userResourceSchema.properties,
    attributes: {
      ...userResourceSchema.properties.attributes,
      required: [...userResourceSchema.properties.attributes.required, 'password'],
      properties: {
        ...userResourceSchema.properties.attributes.properties,
        password: { type: 'string', description: 'extension: the new password, in this response only, never again' },
      },
    },
  },
} as const;

const userChangeBody = jsonApiBodyT(
  'users',
  Type.Object({ disabled: Type.Boolean(), name: Type.Optional(Type.String()), email: Type.Optional(Type.String()) }),
);

const passwordT = Type.String({ maxLength: MAX_PASSWORD_LENGTH });
const passwordChangeBody = jsonApiBodyT('users', Type.Object({ current_password: passwordT, new_password: passwordT }));

export async function userRoutes(fastify: FastifyInstance, ctx: ServerContext): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { store } = ctx;
  const users = new UsersService(store);
  const preHandler = ctx.auth.management;

  async function found(orgId: string, id: string): Promise<User> {
    const user = isObjectId(id) ? await store.getUser(orgId, id) : undefined;
    if (user === undefined) throw rekeyError('USER_NOT_FOUND');
    return user;
  }

  app.get(
    '/api/v2/users',
    {
      preHandler,
      schema: {
        tags,
        summary: "List the organization's users",
        response: { 200: jsonApiList("The organization's users (never a password or its hash)", userResourceSchema), ...errorResponses([403, 429]) },
      },
    },
    async (request) => {
      const auth = authOf(request);
      authorize(auth, 'users:read', 'listing users');
      const users = await store.listUsers(auth.orgId);
      return { data: users.map(userResource), meta: { page: { total_filtered_count: users.length } } };
    },
  );

  app.get(
    '/api/v2/users/:id',
    {
      preHandler,
      schema: { tags, summary: 'Get a user', params: idParamsT, response: { 200: jsonApiDocument('The user', userResourceSchema), ...ONE_USER_ERRORS } },
    },
    async (request) => {
      const auth = authOf(request);
      authorize(auth, 'users:read', 'reading a user');
      return { data: userResource(await found(auth.orgId, request.params.id)) };
    },
  );

  app.patch(
    '/api/v2/users/:id',
    {
      preHandler,
      schema: {
        tags,
        summary: 'Disable or enable a user (attributes.disabled)',
        description:
          "Disabling ends the user's web sessions and disables (keeps) their application keys; enabling does not re-enable those keys. " +
          'Only `disabled` can be changed here; `name` and `email` are refused.',
        params: idParamsT,
        body: userChangeBody,
        response: { 200: jsonApiDocument('The changed user', userResourceSchema), ...LAST_ADMIN_ERRORS },
      },
    },
    async (request) => {
      const auth = authOf(request);
      // Asked before the user is looked up, so a caller who may not learns nothing (the service asks again).
      authorize(auth, 'users:write', 'disabling or enabling a user');
      const { id } = request.params;
      const { data } = request.body;
      if (data.id !== undefined && data.id !== id) throw rekeyError('BODY_ID_MISMATCH');
      if (data.attributes.name !== undefined || data.attributes.email !== undefined) {
        throw rekeyError('BAD_REQUEST', { detail: "Only attributes.disabled can be changed; a user's name and email cannot" });
      }
      const user = await found(auth.orgId, id);
      return { data: userResource(await users.setDisabled(auth, user.id, data.attributes.disabled)) };
    },
  );

  app.delete(
    '/api/v2/users/:id',
    {
      preHandler,
      schema: {
        tags,
        summary: 'Delete a user and their application keys (the audit trail is kept)',
        description: "Unlike Datadog's, which only disables the user: to disable, PATCH `disabled: true`.",
        params: idParamsT,
        response: { 204: noContent('Deleted'), ...LAST_ADMIN_ERRORS },
      },
    },
    async (request, reply) => {
      const auth = authOf(request);
      authorize(auth, 'users:write', 'deleting a user');
      const user = await found(auth.orgId, request.params.id);
      await users.deleteUser(auth, user.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/api/v2/users/:id/reset_password',
    {
      preHandler,
      schema: {
        tags,
        summary: "Reset a user's password; the new one is returned only here",
        description: "Ends the user's web sessions and disables their application keys.",
        params: idParamsT,
        response: { 200: jsonApiDocument('The user, with attributes.password shown once', resetUserSchema), ...ONE_USER_ERRORS },
      },
    },
    async (request, reply) => {
      const auth = authOf(request);
      // Not through a scoped key (users:reset_password): the password it returns signs in with the whole role.
      authorize(auth, 'users:reset_password', "resetting a user's password");
      const user = await found(auth.orgId, request.params.id);
      const { user: changed, password } = await users.resetPassword(auth, user.id);
      const resource = userResource(changed);
      reply.header('cache-control', 'no-store');
      return { data: { ...resource, attributes: { ...resource.attributes, password } } };
    },
  );

  app.post(
    '/api/v2/current_user/password',
    {
      preHandler,
      schema: {
        tags,
        summary: 'Change your own password (the current one is required)',
        description: `Ends your web sessions. The new password has at least ${MIN_PASSWORD_LENGTH} characters.`,
        body: passwordChangeBody,
        response: { 204: noContent('Changed'), ...errorResponses([400, 403, 429], { 400: 'The current password is wrong, or the new one is too short' }) },
      },
    },
    async (request, reply) => {
      const auth = authOf(request);
      // Not through a scoped key (own_password:write); each check counts in the auth throttle first.
      authorize(auth, 'own_password:write', 'changing your password');
      ctx.auth.countPasswordAttempt(request, reply);
      const { current_password: current, new_password: next } = request.body.data.attributes;
      await users.changeOwnPassword(auth, current, next);
      return reply.code(204).send(null);
    },
  );
}
