import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import { AppError } from '../errors.js';

/**
 * While the app closes, every response says `Connection: close`. Fastify does so for requests
 * that arrive during close, and closes idle connections once when close starts; a request
 * already in flight then left its keep-alive connection open and close() waited for the client's
 * keep-alive timeout (5 s by default) after the last response, eating into the shutdown budget.
 * With the header, Node closes the connection as soon as the response is written.
 *
 * Returns the onRequest hook that refuses a request arriving once close has started with 503
 * service_unavailable. Fastify's own refusal (`return503OnClosing`, switched off in app.ts) is
 * its JSON shape without the security headers or a request id. Register the hook after the
 * security headers and CORS, and before any asynchronous hook: every hook before it then runs in
 * the tick the request was routed in, so a request routed before close started still finishes.
 */
export function closeConnectionsOnClose(app: FastifyInstance): onRequestHookHandler {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  return (_request, _reply, done) => {
    if (!closing) {
      done();
      return;
    }
    done(
      new AppError(
        'service_unavailable',
        'The server is shutting down. Retry the request: another instance will answer it.',
      ),
    );
  };
}
