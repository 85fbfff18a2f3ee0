import type { FastifyInstance } from 'fastify';

/**
 * While the app closes, every response says `Connection: close`. Fastify does so for requests
 * that arrive during close, and closes idle connections once when close starts; a request
 * already in flight then left its keep-alive connection open and close() waited for the client's
 * keep-alive timeout (5 s by default) after the last response, eating into the shutdown budget.
 * With the header, Node closes the connection as soon as the response is written.
 */
export function closeConnectionsOnClose(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
}
