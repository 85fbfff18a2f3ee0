import type {
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  onRequestHookHandler,
  RouteOptions,
} from 'fastify';
import { AppError } from '../errors.js';

/**
 * onRequest hook for routes that declare no body schema: a request that carries content
 * (a non-zero Content-Length, or any Transfer-Encoding) is refused with 400 validation_failed at
 * `/body`, before anything reads it. Without it such routes parsed and silently ignored any JSON,
 * the body counterpart of the unknown query parameters NoQuery refuses.
 */
export function refuseRequestContent(
  request: FastifyRequest,
  _reply: FastifyReply,
  done: HookHandlerDoneFunction,
): void {
  const headers = request.headers;
  const length = headers['content-length'];
  if (headers['transfer-encoding'] === undefined && (length === undefined || length === '0')) {
    done();
    return;
  }
  done(
    new AppError('validation_failed', 'This endpoint takes no request body.', {
      errors: [{ path: '/body', message: 'is not allowed' }],
    }),
  );
}

/**
 * Adds refuseRequestContent to a route that declares no body schema (call from an onRoute hook).
 * A route's own hooks run after the application's (rate limiting comes first).
 */
export function refuseContentWithoutBodySchema(route: RouteOptions): void {
  if (route.schema?.body !== undefined) return;
  const own = route.onRequest;
  const hooks: onRequestHookHandler[] =
    own === undefined ? [] : Array.isArray(own) ? [...own] : [own];
  if (hooks.includes(refuseRequestContent)) return;
  route.onRequest = [refuseRequestContent, ...hooks];
}
