import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../db/index.js';
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

/**
 * Errors from handlers and plugins that carry only an HTTP status (@fastify/sensible's
 * httpErrors, `reply.code(409).send(err)`, …) keep that status through a generic code, so
 * clients can still re-authenticate, back off or resolve a conflict. Their message is never
 * shown. A 4xx not listed here becomes 400 bad_request: a status is part of a catalog entry, and
 * the rare ones (406, 412, 422 …) have no generic code of their own.
 */
const STATUS_CODES: Partial<Record<number, ErrorCode>> = {
  401: 'authentication_required',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'request_timeout',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  431: 'request_header_fields_too_large',
  503: 'service_unavailable',
};

/** Details written for the client: library messages never pass through. */
const FRIENDLY_DETAIL: Partial<Record<ErrorCode, string>> = {
  unsupported_media_type: 'Send request bodies as application/json.',
  payload_too_large: 'The request body is larger than this server accepts.',
  invalid_json: 'The request body is not valid JSON.',
  bad_request: 'The request is malformed.',
  not_found: 'No resource lives at this address.',
  authentication_required: 'This resource needs authentication.',
  forbidden: 'You are not allowed to do this.',
  method_not_allowed: 'This resource does not answer this method.',
  request_timeout: 'The request was not received in time.',
  conflict: 'The request conflicts with the current state of the resource.',
  rate_limited: 'Too many requests. Try again later.',
  request_header_fields_too_large: 'The request headers are larger than this server accepts.',
  internal_error: 'Something went wrong on our side. Quote the requestId if you contact support.',
  service_unavailable: 'The service is not able to answer right now. Try again shortly.',
};

/** Retry-After of a 503 for a database that cannot be reached: pools reconnect on their own. */
const DATABASE_DOWN_RETRY_SECONDS = 5;

function toAppError(error: FastifyError): AppError {
  if (isAppError(error)) return error;
  if (error.validation) {
    const part = error.validationContext ?? 'body';
    return new AppError('validation_failed', 'The request does not match the expected schema.', {
      errors: fieldErrors(part, error.validation),
      cause: error,
    });
  }
  // A database that is down (or out of connections) is a temporary condition the client can
  // retry, not a bug: 503 as for a Redis outage, while /health/ready takes the instance out.
  if (isDatabaseUnavailable(error)) {
    return new AppError('service_unavailable', FRIENDLY_DETAIL.service_unavailable, {
      cause: error,
      headers: { 'retry-after': String(DATABASE_DOWN_RETRY_SECONDS) },
    });
  }
  const mapped = error.code ? FASTIFY_CODES[error.code] : undefined;
  if (mapped) return new AppError(mapped, FRIENDLY_DETAIL[mapped], { cause: error });
  const status = error.statusCode ?? 500;
  const code = STATUS_CODES[status];
  if (code) return new AppError(code, FRIENDLY_DETAIL[code], { cause: error });
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

/**
 * Answers a request Fastify could not route because its URL is malformed (`/%zz`): it fails in
 * `frameworkErrors`, before any hook, so the caller sets its headers first.
 */
export function sendMalformedUrl(
  reply: FastifyReply,
  request: FastifyRequest,
  cause: unknown,
): FastifyReply {
  return sendProblem(
    reply,
    request,
    new AppError('bad_request', 'The request URL is malformed.', { cause }),
  );
}

/** The type and message of a rejection's error, with its causes' messages, never its stack. */
function rejectionReason(error: unknown): { type: string; message: string } {
  const messages: string[] = [];
  let current: unknown = error;
  // Bounded: a cause chain can be long, or loop back on itself.
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    messages.push(current.message);
    current = current.cause;
  }
  const type = error instanceof Error ? error.constructor.name : typeof error;
  return { type, message: messages.join(': ') };
}

/** Installs the one error handler and the 404/405 handler on `app`. */
export function installErrorHandling(app: FastifyInstance, routes: RouteMethods): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const appError = toAppError(error);
    // RFC 9110 §15.5.2: a 401 names a scheme. A plugin's bare 401 gets Bearer unless it set its
    // own header on the reply; Bulwark's own 401s decide for themselves (invalid_credentials is
    // about a password, not the bearer, and has none).
    if (appError.status === 401 && !isAppError(error) && !reply.hasHeader('www-authenticate')) {
      reply.header('www-authenticate', 'Bearer realm="bulwark"');
    }
    if (appError.status === 503 && isAppError(error)) {
      // A deliberate "try again shortly" (hashing queue full, Redis down under failClosed,
      // shutting down): an expected condition that can come by the thousand in a flood, so one
      // warn line each without a stack; the outage itself is logged once where it is noticed.
      const cause = (error as { cause?: unknown }).cause;
      request.log.warn(
        {
          code: appError.code,
          detail: appError.detail,
          ...(cause instanceof Error ? { cause: cause.message } : {}),
        },
        'request refused: service unavailable',
      );
    } else if (appError.status >= 500) {
      request.log.error({ err: error }, 'request failed');
    } else if ((request.log as Partial<Logger>).isLevelEnabled?.('debug') !== false) {
      // The client's mistake, not a fault in the code: the messages (with their causes) say why,
      // a stack would say nothing more and only bulk out the log of a flood of hostile requests.
      // Built only when it is logged, and without reading the stack (V8 formats it on first read:
      // ~10 µs per rejection of a 401 or 429 flood).
      request.log.debug(
        { code: appError.code, reason: rejectionReason(error) },
        'request rejected',
      );
    }
    return sendProblem(reply, request, appError);
  });

  app.setNotFoundHandler((request, reply) => {
    const allowed = routes.allowed(request.url);
    // A method the path answers can still end here: a handler or plugin (@fastify/static for a
    // missing file) called callNotFound(). That is a 404; a 405 would contradict its own Allow.
    if (allowed.length > 0 && !allowed.includes(request.method as (typeof allowed)[number])) {
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
