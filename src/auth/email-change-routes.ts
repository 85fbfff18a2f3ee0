import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { eventContext, requireAuth } from '../access/authenticate.js';
import type { EmailChangeService } from './email-change-service.js';
import { ChangeEmailBody, ConfirmEmailChangeBody } from './schema.js';

const accepted = { 202: { type: 'null' } };
const noContent = { 204: { type: 'null' } };

/**
 * /api/v1/auth/email/change: a user changes their own address (when email.changeEmailUrl is set;
 * otherwise not registered: 404, and absent from the OpenAPI document). Both routes take the
 * account's own access token and the strict auth rate-limit policy.
 */
export function emailChangeRoutes(
  base: FastifyInstance,
  opts: { emailChange: EmailChangeService },
): void {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { emailChange } = opts;
  if (!emailChange.enabled) return;

  app.post(
    '/email/change',
    {
      config: { rateLimit: 'auth' },
      preHandler: [app.authenticate],
      schema: {
        tags: ['auth'],
        summary:
          "Ask to change the caller's address (current password required). 202 at once whether or not the new address has an account: a free one is e-mailed a confirmation link, a taken one a notice, and the current address is told.",
        security: [{ bearer: [] }],
        body: ChangeEmailBody,
        response: accepted,
      },
    },
    async (request, reply) => {
      await emailChange.requestChange(requireAuth(request), request.body, eventContext(request));
      return reply.code(202).send();
    },
  );

  app.post(
    '/email/change/confirm',
    {
      config: { rateLimit: 'auth' },
      preHandler: [app.authenticate],
      schema: {
        tags: ['auth'],
        summary:
          "Confirm an address change with the token of its link (single use; signed in as the account that asked). The address becomes verified and the caller's other sessions end.",
        security: [{ bearer: [] }],
        body: ConfirmEmailChangeBody,
        response: noContent,
      },
    },
    async (request, reply) => {
      await emailChange.confirmChange(requireAuth(request), request.body, eventContext(request));
      return reply.code(204).send(null);
    },
  );
}
