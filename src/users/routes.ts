import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { eventContext, requireAuth } from '../access/authenticate.js';
import {
  CreateUserBody,
  ListUsersQuery,
  UpdateSelfBody,
  UpdateUserBody,
  UserIdParams,
  UserList,
  UserSchema,
} from './schema.js';
import type { UsersService } from './users-service.js';

const security = [{ bearer: [] }];

/**
 * Runs `guard` only when the caller acts on another account through users:write. Decided from
 * the token and the path alone, before the target is looked up: whether a challenge comes never
 * depends on whether the account exists, and a caller without users:write (who can change no
 * other account anyway) gets the same answers as before, 404 or 403.
 */
function onOtherAccountAsAdmin(guard: preHandlerAsyncHookHandler): preHandlerAsyncHookHandler {
  return async function otherAccountAsAdmin(this: FastifyInstance, request, reply): Promise<void> {
    const auth = requireAuth(request);
    if (!auth.permissions.has('users:write') || auth.userId === targetId(request)) return;
    await guard.call(this, request, reply);
  };
}

/** The :id of a /users/:id route (validated and lower-cased by then). */
function targetId(request: FastifyRequest): string | undefined {
  const params = request.params as { id?: unknown } | undefined;
  return typeof params?.id === 'string' ? params.id : undefined;
}

/** /api/v1/users: the caller's own account, and the administrative functions. */
export function usersRoutes(
  base: FastifyInstance,
  opts: { users: UsersService; recentSignInSeconds: number; privilegedRecentSignInSeconds: number },
): void {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { users } = opts;
  // An administrator's session can change other accounts (roles, disabled, who exists): one
  // stolen, or left signed in and refreshed for weeks, must not be enough (OWASP ASVS 4.0 V3.7.1).
  const privileged = app.requireRecentSignIn(opts.privilegedRecentSignInSeconds);
  const authenticated = { preHandler: [app.authenticate] };

  app.get(
    '/me',
    {
      ...authenticated,
      schema: { tags: ['users'], summary: 'The caller.', security, response: { 200: UserSchema } },
    },
    async (request) => {
      const auth = requireAuth(request);
      return users.view(await users.visible(auth, auth.userId, () => eventContext(request)));
    },
  );

  app.patch(
    '/me',
    {
      ...authenticated,
      schema: {
        tags: ['users'],
        summary: 'Edit the caller: name and phone only.',
        security,
        body: UpdateSelfBody,
        response: { 200: UserSchema },
      },
    },
    async (request) => {
      const auth = requireAuth(request);
      return users.view(await users.update(auth, auth.userId, request.body, eventContext(request)));
    },
  );

  app.get(
    '/',
    {
      preHandler: [app.authenticate, app.authorize('users:read')],
      schema: {
        tags: ['users'],
        summary:
          'List users (users:read), newest last, with cursor pagination; filter by role, email or disabled.',
        security,
        querystring: ListUsersQuery,
        response: { 200: UserList },
      },
    },
    async (request) => {
      const page = await users.list(request.query);
      const items = page.items.map((row) =>
        users.listView(row, (userId, err) =>
          request.log.error(
            { err, userId },
            'a stored phone number cannot be decrypted (altered, moved to another row, or under a removed master key version); listed as null',
          ),
        ),
      );
      return { items, nextCursor: page.nextCursor };
    },
  );

  app.post(
    '/',
    {
      preHandler: [app.authenticate, app.authorize('users:write'), privileged],
      schema: {
        tags: ['users'],
        summary:
          'Create a user with a role (users:write, from a session signed in within access.privilegedRecentSignInSeconds).',
        security,
        body: CreateUserBody,
        response: { 201: UserSchema },
      },
    },
    async (request, reply) => {
      const auth = requireAuth(request);
      const row = await users.create(request.body, {
        ...eventContext(request),
        actorId: auth.userId,
        grantor: auth.permissions,
        session: { id: auth.sessionId, userId: auth.userId, role: auth.role },
      });
      return reply.code(201).send(users.view(row));
    },
  );

  app.get(
    '/:id',
    {
      ...authenticated,
      schema: {
        tags: ['users'],
        summary: 'A user: yourself, or anyone with users:read (404 otherwise).',
        security,
        params: UserIdParams,
        response: { 200: UserSchema },
      },
    },
    async (request) =>
      users.view(
        await users.visible(requireAuth(request), request.params.id, () => eventContext(request)),
      ),
  );

  app.patch(
    '/:id',
    {
      preHandler: [app.authenticate, onOtherAccountAsAdmin(privileged)],
      schema: {
        tags: ['users'],
        summary:
          'Edit a user: yourself (name, phone), or with users:write (also role, disabled; another user from a session signed in within access.privilegedRecentSignInSeconds).',
        security,
        params: UserIdParams,
        body: UpdateUserBody,
        response: { 200: UserSchema },
      },
    },
    async (request) =>
      users.view(
        await users.update(
          requireAuth(request),
          request.params.id,
          request.body,
          eventContext(request),
        ),
      ),
  );

  app.delete(
    '/:id',
    {
      // Irreversible: a stolen access token, or a session left signed in for days, is not enough.
      // Another account with users:write: within the privileged window too, so that neither
      // window, whichever is configured shorter, can be got round by deleting instead of editing.
      preHandler: [
        app.authenticate,
        app.requireRecentSignIn(opts.recentSignInSeconds),
        onOtherAccountAsAdmin(privileged),
      ],
      schema: {
        tags: ['users'],
        summary:
          'Delete a user: yourself, or with users:write, from a session signed in within access.recentSignInSeconds (another user: also from a session signed in within access.privilegedRecentSignInSeconds). Its sessions end.',
        security,
        params: UserIdParams,
        response: { 204: { type: 'null' } },
      },
    },
    async (request, reply) => {
      await users.delete(requireAuth(request), request.params.id, eventContext(request));
      return reply.code(204).send(null);
    },
  );
}
