import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { eventContext, requireAuth } from '../access/authenticate.js';
import { UserIdParams } from '../users/schema.js';
import type { MfaService } from './mfa-service.js';
import {
  MfaCodeAndPasswordBody,
  MfaConfirmBody,
  MfaSetupBody,
  MfaSetupResponse,
  MfaStatus,
  RecoveryCodesResponse,
} from './schema.js';

const security = [{ bearer: [] }];

/**
 * /api/v1/auth/mfa: the caller's TOTP authenticator and recovery codes. Every route takes a
 * bearer token; those that check a password or a code use the strict auth rate-limit policy.
 */
export function mfaRoutes(base: FastifyInstance, opts: { mfa: MfaService }): void {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { mfa } = opts;

  app.get(
    '/',
    {
      preHandler: [app.authenticate],
      schema: {
        tags: ['mfa'],
        summary: 'Whether MFA is on for the caller, and how many recovery codes are left.',
        security,
        response: { 200: MfaStatus },
      },
    },
    async (request) => mfa.status(requireAuth(request)),
  );

  app.post(
    '/totp/setup',
    {
      config: { rateLimit: 'auth' },
      preHandler: [app.authenticate],
      schema: {
        tags: ['mfa'],
        summary:
          'Start enrolling an authenticator app (takes the password): a new secret, pending until confirmed.',
        security,
        body: MfaSetupBody,
        response: { 200: MfaSetupResponse },
      },
    },
    async (request) => mfa.setup(requireAuth(request), request.body, eventContext(request)),
  );

  app.post(
    '/totp/confirm',
    {
      config: { rateLimit: 'auth' },
      preHandler: [app.authenticate],
      schema: {
        tags: ['mfa'],
        summary:
          'Finish enrolling with a first code from the app: MFA is on; answers the recovery codes, shown once.',
        security,
        body: MfaConfirmBody,
        response: { 200: RecoveryCodesResponse },
      },
    },
    async (request) => mfa.confirm(requireAuth(request), request.body, eventContext(request)),
  );

  app.post(
    '/disable',
    {
      config: { rateLimit: 'auth' },
      preHandler: [app.authenticate],
      schema: {
        tags: ['mfa'],
        summary: 'Turn MFA off (takes the password and a current code or a recovery code).',
        security,
        body: MfaCodeAndPasswordBody,
        response: { 204: { type: 'null' } },
      },
    },
    async (request, reply) => {
      await mfa.disable(requireAuth(request), request.body, eventContext(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/recovery-codes',
    {
      config: { rateLimit: 'auth' },
      preHandler: [app.authenticate],
      schema: {
        tags: ['mfa'],
        summary:
          'New recovery codes, shown once; the old ones stop working (takes the password and a code).',
        security,
        body: MfaCodeAndPasswordBody,
        response: { 200: RecoveryCodesResponse },
      },
    },
    async (request) =>
      mfa.regenerateRecoveryCodes(requireAuth(request), request.body, eventContext(request)),
  );
}

/**
 * DELETE /api/v1/users/:id/mfa: an administrator's reset of another user's MFA (users:write),
 * for a user who lost the authenticator and the recovery codes. Registered under /api/v1/users.
 */
export function mfaAdminRoutes(
  base: FastifyInstance,
  opts: { mfa: MfaService; privilegedRecentSignInSeconds: number },
): void {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  app.delete(
    '/:id/mfa',
    {
      // Removing someone's second factor takes having shown one's own: a stolen or phished
      // administrator token (a password-only session) cannot strip MFA from other accounts, nor
      // can a session that signed in with MFA long ago (a recent sign-in proves it again).
      preHandler: [
        app.authorize('users:write'),
        app.requireMfa,
        app.requireRecentSignIn(opts.privilegedRecentSignInSeconds),
      ],
      schema: {
        tags: ['users'],
        summary:
          "Turn another user's MFA off (users:write, from a session signed in within access.privilegedRecentSignInSeconds, with MFA): their authenticator and recovery codes are deleted and their sessions end.",
        security,
        params: UserIdParams,
        response: { 204: { type: 'null' } },
      },
    },
    async (request, reply) => {
      await opts.mfa.resetByAdmin(requireAuth(request), request.params.id, eventContext(request));
      return reply.code(204).send(null);
    },
  );
}
