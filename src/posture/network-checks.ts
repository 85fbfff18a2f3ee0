import { isIP } from 'node:net';
import { isLoopbackHost } from '../config/loopback.js';
import { pass, productionFail, type Outcome, type PostureCheck } from './types.js';

/**
 * The host node-postgres connects to for a connection URL: a `host` query parameter overrides
 * the URL's host name; a path (a Unix socket directory) or nothing at all stays on this machine.
 */
function postgresHostIsLocal(url: URL): { local: boolean; host: string } {
  const host = url.searchParams.get('host') ?? decodeURIComponent(url.hostname);
  return { local: host === '' || host.startsWith('/') || isLoopbackHost(host), host };
}

/** Line 8: connections Bulwark makes itself (database, Redis, webhook) leave the host encrypted. */
export const backendTransportCheck: PostureCheck = {
  id: 'https.backends',
  line: 8,
  run(context) {
    const { database, redis, audit } = context.config;
    const outcomes: Outcome[] = [];
    if (database.url !== undefined) {
      try {
        const url = new URL(database.url);
        const sslmode = url.searchParams.get('sslmode') ?? '';
        const { local, host } = postgresHostIsLocal(url);
        if (!local && !['require', 'verify-ca', 'verify-full'].includes(sslmode)) {
          outcomes.push({
            status: 'warn',
            reason: `database.url reaches ${host} without sslmode=verify-full: credentials and data cross the network unencrypted.`,
            fix: 'add ?sslmode=verify-full to DATABASE_URL.',
          });
        }
      } catch {
        // refused by the config rules
      }
    }
    if (redis.url !== undefined) {
      try {
        const url = new URL(redis.url);
        if (url.protocol === 'redis:' && !isLoopbackHost(url.hostname)) {
          outcomes.push({
            status: 'warn',
            reason: `redis.url reaches ${url.hostname} over plain redis://.`,
            fix: 'use rediss:// (TLS).',
          });
        }
      } catch {
        // refused by the config rules
      }
    }
    if (audit.webhook.url !== undefined && audit.webhook.url.startsWith('http:')) {
      outcomes.push({
        status: productionFail(context),
        reason:
          'audit.webhook.url uses plain http: security events cross the network in clear text.',
        fix: 'use an https:// webhook URL.',
      });
    }
    return outcomes.length > 0 ? outcomes : pass('outgoing connections: loopback or encrypted.');
  },
};

/** Line 8: X-Forwarded-* is believed only from proxies, and only narrow ranges of them. */
export const trustProxyCheck: PostureCheck = {
  id: 'https.trust-proxy',
  line: 8,
  run(context) {
    const broad = context.config.server.trustProxy.filter((entry) => {
      const [address, bits] = entry.split('/');
      if (bits === undefined || address === undefined) return false;
      return Number(bits) < (isIP(address) === 4 ? 16 : 48);
    });
    if (broad.length > 0) {
      return {
        status: 'warn',
        reason: `server.trustProxy trusts wide ranges (${broad.join(', ')}): any host there can forge client addresses and X-Forwarded-Proto.`,
        fix: 'list only the proxies’ own addresses or their narrow subnet.',
      };
    }
    const { hsts, server } = context.config;
    return pass(
      `HSTS max-age=${hsts.maxAgeSeconds}; includeSubDomains${hsts.preload ? '; preload' : ''}${server.httpRedirectPort === undefined ? '' : `; port ${server.httpRedirectPort} redirects to ${server.publicOrigin}`}.`,
    );
  },
};
