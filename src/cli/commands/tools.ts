import { CliError, CliUsageError, parseCommandArgs, type Command } from '../args.js';

const DEFAULT_PORT = 4000;

/** `bulwark tools`: the JWT verifier and the OIDC playground, as local web pages. */
export const tools: Command = {
  summary: 'the JWT verifier and the OIDC playground, as web pages on loopback',
  usage: [
    'Usage: bulwark tools [--port N] [--host ADDRESS]',
    '',
    `Serves, on http://127.0.0.1:${DEFAULT_PORT} until Ctrl-C:`,
    '  /jwt   JWT verifier: decodes a token, checks its signature with a JWKS (URL or pasted), a',
    '         PEM public key or an HMAC secret, checks exp, nbf, iat, iss and aud, and lints it',
    '         against RFC 8725 and RFC 9068',
    '  /oidc  OIDC playground: signs in at any OpenID Connect provider with the authorization code',
    '         flow, PKCE S256, state and nonce, and shows the provider checks, the ID token claims,',
    '         UserInfo and the tokens. Register <url>/oidc/callback as a redirect URI at the provider.',
    '',
    'It listens on loopback only and answers only to loopback host names (no DNS rebinding), so',
    'what you paste goes to this process and nowhere else, except the JWKS and provider URLs you',
    'give it. It needs no configuration, database or key.',
    '',
    'Options:',
    `  --port N          port (default ${DEFAULT_PORT}; 0 for any free one)`,
    '  --host ADDRESS    127.0.0.1 (default), ::1 or localhost',
  ].join('\n'),
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      port: { type: 'string' },
      host: { type: 'string' },
    });
    if (positionals.length > 0)
      throw new CliUsageError(`tools takes no arguments (got "${positionals[0]}")`);
    const port = values.port === undefined ? DEFAULT_PORT : Number(values.port);
    if (!/^\d+$/.test(values.port ?? '0') || port > 65_535) {
      throw new CliUsageError(`--port must be a port number from 0 to 65535, not "${values.port}"`);
    }
    const host = values.host ?? '127.0.0.1';
    if (!/^(127\.\d+\.\d+\.\d+|::1|localhost)$/i.test(host)) {
      throw new CliUsageError(
        `--host must be a loopback address (127.0.0.1, ::1, localhost), not "${host}": the tools hold what you paste into them`,
      );
    }
    const { startToolsServer } = await import('../../tools/server.js');
    let server;
    try {
      server = await startToolsServer({ host, port });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE')
        throw new CliError(
          `port ${port} is in use. Fix: bulwark tools --port <another>, or --port 0`,
        );
      throw error;
    }
    io.stdout.write(
      `Bulwark tools on ${server.url}: JWT verifier ${server.url}/jwt, OIDC playground ${server.url}/oidc. Ctrl-C stops.\n`,
    );
    const stop = (): void => {
      void server.close().then(() => process.exit(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    return -1; // keep running until a signal
  },
};
