import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { eventContext, requireAuth } from '../access/authenticate.js';
import type { AuthService } from './auth-service.js';
import {
  ChangePasswordBody,
  LoginBody,
  LoginResponse,
  RefreshBody,
  RegisterBody,
  RegisterResponse,
  SessionIdParams,
  SessionList,
  TokenPairSchema,
} from './schema.js';

const security = [{ bearer: [] }];
const noContent = { 204: { type: 'null' } };

/** /api/v1/auth: registration, login, token refresh, logout, sessions and password change. */
export function authRoutes(base: FastifyInstance, opts: { auth: AuthService }): void {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { auth } = opts;

  app.post(
    '/register',
    {
      config: { rateLimit: 'auth' },
      schema: {
        tags: ['auth'],
        summary: 'Create an account.',
        body: RegisterBody,
        response: { 201: RegisterResponse },
      },
    },
    async (request, reply) =>
      reply.code(201).send({ user: await auth.register(request.body, eventContext(request)) }),
  );

  app.post(
    '/login',
    {
      config: { rateLimit: 'auth' },
      schema: {
        tags: ['auth'],
        summary: 'Exchange email and password for an access token and a refresh token.',
        body: LoginBody,
        response: { 200: LoginResponse },
      },
    },
    async (request) => auth.login(request.body, eventContext(request)),
  );

  app.post(
    '/refresh',
    {
      config: { rateLimit: 'auth' },
      schema: {
        tags: ['auth'],
        summary: 'Rotate a refresh token: a new pair; reusing an old token ends the session.',
        body: RefreshBody,
        response: { 200: TokenPairSchema },
      },
    },
    async (request) => auth.refresh(request.body.refreshToken, eventContext(request)),
  );

  app.post(
    '/logout',
    {
      preHandler: [app.authenticate],
      schema: {
        tags: ['auth'],
        summary: 'End this session at once.',
        security,
        response: noContent,
      },
    },
    async (request, reply) => {
      await auth.logout(requireAuth(request), eventContext(request));
      return reply.code(204).send();
    },
  );

  app.post(
    '/logout-all',
    {
      preHandler: [app.authenticate],
      schema: {
        tags: ['auth'],
        summary: 'End every session of the caller.',
        security,
        response: noContent,
      },
    },
    async (request, reply) => {
      await auth.logoutAll(requireAuth(request), eventContext(request));
      return reply.code(204).send();
    },
  );

  app.get(
    '/sessions',
    {
      preHandler: [app.authenticate],
      schema: {
        tags: ['auth'],
        summary: "The caller's active sessions.",
        security,
        response: { 200: SessionList },
      },
    },
    async (request) => {
      const caller = requireAuth(request);
      const sessions = await auth.listSessions(caller);
      return {
        items: sessions.map((s) => ({
          id: s.id,
          createdAt: new Date(s.created_at).toISOString(),
          lastUsedAt: new Date(s.last_used_at).toISOString(),
          ip: s.ip,
          userAgent: s.user_agent,
          current: s.id === caller.sessionId,
        })),
      };
    },
  );

  app.delete(
    '/sessions/:id',
    {
      preHandler: [app.authenticate],
      schema: {
        tags: ['auth'],
        summary: "End one of the caller's sessions (404 for anyone else's).",
        security,
        params: SessionIdParams,
        response: noContent,
      },
    },
    async (request, reply) => {
      await auth.endSession(requireAuth(request), request.params.id, eventContext(request));
      return reply.code(204).send();
    },
  );

  app.post(
    '/password',
    {
      config: { rateLimit: 'auth' },
      preHandler: [app.authenticate],
      schema: {
        tags: ['auth'],
        summary: 'Change the password; every other session ends.',
        security,
        body: ChangePasswordBody,
        response: noContent,
      },
    },
    async (request, reply) => {
      await auth.changePassword(requireAuth(request), request.body, eventContext(request));
      return reply.code(204).send();
    },
  );
}
