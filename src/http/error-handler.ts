import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, errorCatalog, isAppError, type ErrorCode, type FieldError } from '../errors.js';
import type { RouteMethods } from './method-not-allowed.js';
import { fieldErrors } from './validation.js';

/** RFC 9457 problem document as Bulwark sends it. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  requestId: string;
  errors?: FieldError[];
}

/** The problem `type` URI of a code. A URN: stable, and it points at no host we do not control. */
export function problemType(code: ErrorCode): string {
  return `urn:bulwark:problem:${code}`;
}

/** Fastify's own error codes that are the client's fault, mapped to catalog codes. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_CTP_INVALID_TYPE: 'unsupported_media_type',
  FST_ERR_BAD_URL: 'bad_request',
  FST_ERR_ASYNC_CONSTRAINT: 'bad_request',
};

/** Details written for the client: library messages never pass through. */
const FRIENDLY_DETAIL: Partial<Record<ErrorCode, string>> = {
  unsupported_media_type: 'Send request bodies as application/json.',
  payload_too_large: 'The request body is larger than this server accepts.',
  invalid_json: 'The request body is not valid JSON.',
  bad_request: 'The request is malformed.',
  not_found: 'No resource lives at this address.',
  internal_error: 'Something went wrong on our side. Quote the requestId if you contact support.',
  service_unavailable: 'The service is not able to answer right now. Try again shortly.',
};

function toAppError(error: FastifyError): AppError {
  if (isAppError(error)) return error;
  if (error.validation) {
    const part = error.validationContext ?? 'body';
    return new AppError('validation_failed', 'The request does not match the expected schema.', {
      errors: fieldErrors(part, error.validation),
      cause: error,
    });
  }
  const mapped = error.code ? FASTIFY_CODES[error.code] : undefined;
  if (mapped) return new AppError(mapped, FRIENDLY_DETAIL[mapped], { cause: error });
  const status = error.statusCode ?? 500;
  if (status === 413)
    return new AppError('payload_too_large', FRIENDLY_DETAIL.payload_too_large, { cause: error });
  if (status === 415)
    return new AppError('unsupported_media_type', FRIENDLY_DETAIL.unsupported_media_type, {
      cause: error,
    });
  if (status === 404) return new AppError('not_found', FRIENDLY_DETAIL.not_found, { cause: error });
  if (status === 503)
    return new AppError('service_unavailable', FRIENDLY_DETAIL.service_unavailable, {
      cause: error,
    });
  if (status >= 400 && status < 500)
    return new AppError('bad_request', FRIENDLY_DETAIL.bad_request, { cause: error });
  return new AppError('internal_error', FRIENDLY_DETAIL.internal_error, { cause: error });
}

/** Builds the problem document for an AppError in the context of a request. */
export function problemFor(error: AppError, requestId: string): Problem {
  const problem: Problem = {
    type: problemType(error.code),
    title: errorCatalog[error.code].title,
    status: error.status,
    detail: error.detail,
    code: error.code,
    requestId,
  };
  if (error.errors && error.errors.length > 0) problem.errors = error.errors;
  return problem;
}

/** Sends `error` as application/problem+json. Serialised here so no route schema can reshape it. */
export function sendProblem(
  reply: FastifyReply,
  request: FastifyRequest,
  error: AppError,
): FastifyReply {
  if (error.headers) reply.headers(error.headers);
  return reply
    .code(error.status)
    .type('application/problem+json; charset=utf-8')
    .serializer((payload: unknown) => JSON.stringify(payload))
    .send(problemFor(error, request.id));
}

/** Installs the one error handler and the 404/405 handler on `app`. */
export function installErrorHandling(app: FastifyInstance, routes: RouteMethods): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const appError = toAppError(error);
    if (appError.status >= 500) {
      request.log.error({ err: error }, 'request failed');
    } else {
      request.log.debug({ code: appError.code, err: error }, 'request rejected');
    }
    return sendProblem(reply, request, appError);
  });

  app.setNotFoundHandler((request, reply) => {
    const allowed = routes.allowed(request.url);
    if (allowed.length > 0) {
      return sendProblem(
        reply,
        request,
        new AppError('method_not_allowed', `This resource answers ${allowed.join(', ')}.`, {
          headers: { allow: allowed.join(', ') },
        }),
      );
    }
    return sendProblem(reply, request, new AppError('not_found', FRIENDLY_DETAIL.not_found));
  });
}
