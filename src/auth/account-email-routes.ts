import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { eventContext, requireAuth } from '../access/authenticate.js';
import type { AccountEmailService } from './account-email-service.js';
import { UserIdParams } from '../users/schema.js';
import { ForgotPasswordBody, ResetPasswordBody, VerifyEmailBody } from './schema.js';

const accepted = { 202: { type: 'null' } };
const noContent = { 204: { type: 'null' } };

/**
 * /api/v1/auth: password reset by e-mail (when email.passwordResetUrl is set) and address
 * verification (when email.verifyEmailUrl is set). Routes of a feature that is off are not
 * registered (404) and not in the OpenAPI document. All use the strict auth rate-limit policy.
 */
export function accountEmailRoutes(
  base: FastifyInstance,
  opts: { accountEmail: AccountEmailService },
): void {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { accountEmail } = opts;

  if (accountEmail.resetEnabled) {
    app.post(
      '/password/forgot',
      {
        config: { rateLimit: 'auth' },
        schema: {
          tags: ['auth'],
          summary:
            'Ask for a password reset link by e-mail. Always 202, at once: the answer never tells whether the address has an account.',
          body: ForgotPasswordBody,
          response: accepted,
        },
      },
      async (request, reply) => {
        accountEmail.requestPasswordReset(request.body.email, eventContext(request));
        return reply.code(202).send();
      },
    );

    app.post(
      '/password/reset',
      {
        config: { rateLimit: 'auth' },
        schema: {
          tags: ['auth'],
          summary:
            'Set a new password with the token of a reset link (single use); every session of the account ends.',
          body: ResetPasswordBody,
          response: noContent,
        },
      },
      async (request, reply) => {
        await accountEmail.resetPassword(request.body, eventContext(request));
        return reply.code(204).send(null);
      },
    );
  }

  if (accountEmail.verificationEnabled) {
    app.post(
      '/email/verify',
      {
        config: { rateLimit: 'auth' },
        preHandler: [app.authenticate],
        schema: {
          tags: ['auth'],
          summary:
            "Verify the caller's address with the token of a verification link (single use; signed in as the account the link was sent for).",
          security: [{ bearer: [] }],
          body: VerifyEmailBody,
          response: noContent,
        },
      },
      async (request, reply) => {
        await accountEmail.verifyEmail(
          requireAuth(request).userId,
          request.body,
          eventContext(request),
        );
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/email/verification',
      {
        config: { rateLimit: 'auth' },
        preHandler: [app.authenticate],
        schema: {
          tags: ['auth'],
          summary: 'Send the caller a new verification e-mail (409 when the address is verified).',
          security: [{ bearer: [] }],
          response: accepted,
        },
      },
      async (request, reply) => {
        await accountEmail.resendVerification(requireAuth(request).userId, eventContext(request));
        return reply.code(202).send();
      },
    );
  }
}

/**
 * POST /api/v1/users/:id/password-reset: an administrator e-mails a user a reset link
 * (users:write; when password reset by e-mail is on). Registered under /api/v1/users.
 */
export function accountEmailAdminRoutes(
  base: FastifyInstance,
  opts: { accountEmail: AccountEmailService; privilegedRecentSignInSeconds: number },
): void {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  if (!opts.accountEmail.resetEnabled) return;
  app.post(
    '/:id/password-reset',
    {
      // Account recovery started on someone else's behalf: a stolen administrator session, or
      // one left signed in, must not be enough to send recovery mail to other accounts.
      preHandler: [
        app.authorize('users:write'),
        app.requireRecentSignIn(opts.privilegedRecentSignInSeconds),
      ],
      schema: {
        tags: ['users'],
        summary:
          'E-mail a user a password reset link (users:write, from a session signed in within access.privilegedRecentSignInSeconds); the administrator never sees or sets the password. 409 for a disabled account or one without a password.',
        security: [{ bearer: [] }],
        params: UserIdParams,
        response: accepted,
      },
    },
    async (request, reply) => {
      const auth = requireAuth(request);
      await opts.accountEmail.sendResetLinkAsAdmin(
        { id: auth.sessionId, userId: auth.userId, role: auth.role },
        request.params.id,
        eventContext(request),
      );
      return reply.code(202).send();
    },
  );
}
