import { isIP } from 'node:net';
import { SUPPORTED_API_VERSIONS } from './api-versions.js';
import { isLoopbackHost } from './loopback.js';
import type { Config } from './schema.js';

/** True for an IPv4/IPv6 address or a CIDR block of one. */
export function isAddressOrCidr(value: string): boolean {
  const [address, bits, ...rest] = value.split('/');
  if (rest.length > 0 || address === undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

/** True when `value` is exactly a serialised origin: scheme://host[:port], nothing more. */
export function isExactOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (
      (url.protocol === 'https:' || url.protocol === 'http:') &&
      url.origin === value &&
      /^([a-z0-9-]+\.)*[a-z0-9-]+$|^\[[0-9a-f:.]+\]$/i.test(url.hostname)
    );
  } catch {
    return false;
  }
}

/**
 * Rules that span settings or need more than JSON Schema can say. Each problem names the setting
 * (through `label`, which resolves to the environment variable or file that set it) and the fix.
 */
export function checkConfigRules(config: Config, label: (path: string) => string): string[] {
  const problems: string[] = [];

  for (const origin of config.cors.origins) {
    if (origin === '*') continue;
    if (!isExactOrigin(origin)) {
      problems.push(
        `${label('cors.origins')} has ${JSON.stringify(origin)}, which is not an exact origin. Fix: use scheme://host[:port] with no path, e.g. https://app.example.com.`,
      );
    }
  }
  if (config.cors.origins.includes('*')) {
    if (config.cors.credentials) {
      problems.push(
        `${label('cors.origins')} allows any origin ("*") while ${label('cors.credentials')} is true, which would let every web site act with your users' credentials. Fix: list the exact origins instead of "*".`,
      );
    }
    if (config.cors.origins.length > 1) {
      problems.push(
        `${label('cors.origins')} mixes "*" with exact origins. Fix: use either "*" alone or a list of origins.`,
      );
    }
  }

  for (const entry of config.server.trustProxy) {
    if (!isAddressOrCidr(entry)) {
      problems.push(
        `${label('server.trustProxy')} has ${JSON.stringify(entry)}, which is not an IP address or CIDR. Fix: list proxy addresses such as 10.0.0.5 or 10.0.0.0/8.`,
      );
    } else if (/\/0+$/.test(entry)) {
      problems.push(
        `${label('server.trustProxy')} has ${JSON.stringify(entry)}, which trusts every address: any client could then forge X-Forwarded-For and pick its own address. Fix: list only your proxies' addresses or subnets.`,
      );
    }
  }

  for (const [version, entry] of Object.entries(config.api.deprecations)) {
    if (!SUPPORTED_API_VERSIONS.includes(Number(version))) {
      problems.push(
        `${label('api.deprecations')} names version ${version}, which this build does not serve. Fix: use one of ${SUPPORTED_API_VERSIONS.join(', ')}.`,
      );
    }
    if (
      entry.sunsetAt !== undefined &&
      Date.parse(entry.sunsetAt) < Date.parse(entry.deprecatedAt)
    ) {
      problems.push(
        `${label('api.deprecations')} version ${version} has sunsetAt before deprecatedAt. Fix: a version must be deprecated before it is retired.`,
      );
    }
  }
  if (!Object.hasOwn(config.access.roles, config.access.defaultRole)) {
    problems.push(
      `${label('access.defaultRole')} is "${config.access.defaultRole}", which access.roles does not define. Fix: add it to access.roles or pick one of ${Object.keys(config.access.roles).join(', ')}.`,
    );
  }
  for (const name of ['general', 'auth']) {
    if (Object.hasOwn(config.rateLimit.policies, name)) {
      problems.push(
        `${label('rateLimit.policies')} defines "${name}", which is a built-in policy. Fix: set rateLimit.${name} instead, or give your policy another name.`,
      );
    }
  }
  if (config.tokens.refreshAbsoluteTtlSeconds < config.tokens.refreshIdleTtlSeconds) {
    problems.push(
      `${label('tokens.refreshAbsoluteTtlSeconds')} is shorter than ${label('tokens.refreshIdleTtlSeconds')}. Fix: the absolute session lifetime must be at least the idle lifetime.`,
    );
  }
  if (config.database.url !== undefined && !/^postgres(ql)?:\/\//.test(config.database.url)) {
    problems.push(
      `${label('database.url')} is not a PostgreSQL URL. Fix: use postgres://user:password@host:5432/db, or unset it for the embedded SQLite.`,
    );
  }
  if (config.redis.url !== undefined && !/^rediss?:\/\//.test(config.redis.url)) {
    problems.push(
      `${label('redis.url')} is not a Redis URL. Fix: use redis://host:6379 (or rediss:// for TLS), or unset it for the in-process store.`,
    );
  }
  if (config.keys.masterKey !== undefined && config.keys.masterKeyFile !== undefined) {
    problems.push(
      `${label('keys.masterKey')} and ${label('keys.masterKeyFile')} are both set. Fix: configure the master key one way only.`,
    );
  }
  const webhook = config.audit.webhook;
  if (webhook.url !== undefined) {
    let protocol = '';
    try {
      protocol = new URL(webhook.url).protocol;
    } catch {
      // reported below
    }
    if (protocol !== 'https:' && protocol !== 'http:') {
      problems.push(
        `${label('audit.webhook.url')} is not an http(s) URL. Fix: use https://host/path.`,
      );
    } else if (protocol === 'http:' && config.env === 'production') {
      problems.push(
        `${label('audit.webhook.url')} uses plain http in production, which exposes security events in transit. Fix: use https://.`,
      );
    }
    if (webhook.secret === undefined) {
      problems.push(
        `${label('audit.webhook.url')} is set without ${label('audit.webhook.secret')}, so receivers could not tell real events from forged ones. Fix: set a random secret of at least 32 characters (openssl rand -hex 32).`,
      );
    }
  }
  const metricsHost = config.metrics.host;
  if (
    config.metrics.port !== undefined &&
    config.metrics.token === undefined &&
    !isLoopbackHost(metricsHost)
  ) {
    problems.push(
      `${label('metrics.host')} is "${metricsHost}", which is not loopback, and ${label('metrics.token')} is unset, so anyone who can reach it could read the metrics. Fix: set metrics.token, or keep metrics.host on 127.0.0.1.`,
    );
  }
  if (
    config.metrics.port !== undefined &&
    config.metrics.port !== 0 &&
    config.metrics.port === config.server.port
  ) {
    problems.push(
      `${label('metrics.port')} equals ${label('server.port')}. Fix: pick another port for metrics, or unset metrics.port and use metrics.token on the main port.`,
    );
  }
  problems.push(...checkHttpsRules(config, label));
  problems.push(...checkOidcRules(config, label));
  problems.push(...checkEmailRules(config, label));
  return problems;
}

/** TLS files, the public origin and the redirect listener: settings that only work together. */
function checkHttpsRules(config: Config, label: (path: string) => string): string[] {
  const problems: string[] = [];
  const { tls, server, hsts } = config;
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    problems.push(
      `${label(tls.certFile === undefined ? 'tls.keyFile' : 'tls.certFile')} is set without ${label(tls.certFile === undefined ? 'tls.certFile' : 'tls.keyFile')}. Fix: set both (certificate chain and its private key) to serve HTTPS, or neither.`,
    );
  }
  if (tls.passphrase !== undefined && tls.keyFile === undefined) {
    problems.push(
      `${label('tls.passphrase')} is set without ${label('tls.keyFile')}. Fix: set tls.keyFile, or unset the passphrase.`,
    );
  }
  if (server.publicOrigin !== undefined) {
    if (!isExactOrigin(server.publicOrigin) || !server.publicOrigin.startsWith('https://')) {
      problems.push(
        `${label('server.publicOrigin')} is ${JSON.stringify(server.publicOrigin)}, which is not an https origin. Fix: use https://host[:port] with no path, e.g. https://api.example.com.`,
      );
    }
  }
  if (server.httpRedirectPort !== undefined) {
    if (server.publicOrigin === undefined) {
      problems.push(
        `${label('server.httpRedirectPort')} is set without ${label('server.publicOrigin')}; the redirect target is never taken from the request's Host header (that would be an open redirect). Fix: set server.publicOrigin to your https origin, e.g. https://api.example.com.`,
      );
    }
    if (server.httpRedirectPort !== 0 && server.httpRedirectPort === server.port) {
      problems.push(
        `${label('server.httpRedirectPort')} equals ${label('server.port')}. Fix: pick another port for the redirect listener (usually 80, with the service on 443).`,
      );
    }
    if (server.httpRedirectPort !== 0 && server.httpRedirectPort === config.metrics.port) {
      problems.push(
        `${label('server.httpRedirectPort')} equals ${label('metrics.port')}. Fix: give each listener its own port.`,
      );
    }
  }
  if (hsts.preload && hsts.maxAgeSeconds < 31_536_000) {
    problems.push(
      `${label('hsts.preload')} is true while ${label('hsts.maxAgeSeconds')} is ${hsts.maxAgeSeconds}; preload lists require at least one year. Fix: set hsts.maxAgeSeconds to 31536000 or more, or turn preload off.`,
    );
  }
  return problems;
}

/** The Google preset's issuer; discovery is at /.well-known/openid-configuration under it. */
export const GOOGLE_ISSUER = 'https://accounts.google.com';

function urlProblem(value: string, production: boolean): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'is not an http(s) URL';
  if (url.protocol === 'http:' && production) return 'uses plain http in production';
  if (url.username !== '' || url.password !== '') return 'contains credentials';
  if (url.hash !== '') return 'has a #fragment';
  return null;
}

function checkOidcRules(config: Config, label: (path: string) => string): string[] {
  const problems: string[] = [];
  const production = config.env === 'production';
  const where = label('oidc.providers');
  for (const [name, p] of Object.entries(config.oidc.providers)) {
    const at = `${where} "${name}"`;
    if (p.preset === undefined && p.issuer === undefined) {
      problems.push(
        `${at} has neither preset nor issuer. Fix: set "preset": "google" or "issuer": "https://...".`,
      );
    }
    if (p.preset !== undefined && p.issuer !== undefined && p.issuer !== GOOGLE_ISSUER) {
      problems.push(
        `${at} sets preset "${p.preset}" and a different issuer. Fix: keep one of them.`,
      );
    }
    if (p.issuer !== undefined) {
      const issue = urlProblem(p.issuer, production);
      if (issue)
        problems.push(`${at} issuer ${issue}. Fix: use the provider's https:// issuer URL.`);
    }
    if ((p.clientSecret === undefined) === (p.privateKeyFile === undefined)) {
      problems.push(
        `${at} needs exactly one of clientSecret and privateKeyFile (private_key_jwt).`,
      );
    }
    if (!p.scopes.includes('openid')) {
      problems.push(`${at} scopes lack "openid", so no ID token would be issued. Fix: add it.`);
    }
    const redirect = urlProblem(p.redirectUri, production);
    if (redirect) {
      problems.push(
        `${at} redirectUri ${redirect}. Fix: use https://<public host>/api/v1/auth/oidc/${name}/callback.`,
      );
    } else {
      const url = new URL(p.redirectUri);
      if (url.pathname !== `/api/v1/auth/oidc/${name}/callback` || url.search !== '') {
        problems.push(
          `${at} redirectUri must end in /api/v1/auth/oidc/${name}/callback with no query. Fix: register that exact URL at the provider and here.`,
        );
      }
    }
    for (const app of p.appUrls) {
      const issue = urlProblem(app, production);
      if (issue)
        problems.push(
          `${at} appUrls has ${JSON.stringify(app)}, which ${issue}. Fix: list the front end's exact https:// URLs.`,
        );
    }
  }
  if (production && !config.oidc.cookieSecure) {
    problems.push(
      `${label('oidc.cookieSecure')} is false in production, which would send sign-in cookies over plain http. Fix: serve over HTTPS and leave it true.`,
    );
  }
  return problems;
}

/** Account e-mails: one way to send them, something to send, and links users can trust. */
function checkEmailRules(config: Config, label: (path: string) => string): string[] {
  const problems: string[] = [];
  const production = config.env === 'production';
  const email = config.email;
  if (email.smtpUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(email.smtpUrl);
    } catch {
      // reported below
    }
    // The URL holds the SMTP password: it is never quoted back.
    if (url === undefined || (url.protocol !== 'smtp:' && url.protocol !== 'smtps:')) {
      problems.push(
        `${label('email.smtpUrl')} is not an SMTP URL. Fix: use smtps://user:password@host:465 or smtp://user:password@host:587 (STARTTLS), with the user and password percent-encoded.`,
      );
    } else if (
      url.hostname === '' ||
      url.search !== '' ||
      url.hash !== '' ||
      (url.pathname !== '' && url.pathname !== '/')
    ) {
      // nodemailer would read options from a query (`?tls.rejectUnauthorized=false`).
      problems.push(
        `${label('email.smtpUrl')} must be scheme://[user:password@]host[:port] with no path, query or fragment. Fix: remove them; TLS settings are not taken from the URL.`,
      );
    }
    if (email.outboxDir !== undefined) {
      problems.push(
        `${label('email.smtpUrl')} and ${label('email.outboxDir')} are both set. Fix: send through SMTP or write to the outbox, not both.`,
      );
    }
  }
  if (email.smtpCaFile !== undefined && email.smtpUrl === undefined) {
    problems.push(
      `${label('email.smtpCaFile')} is set without ${label('email.smtpUrl')}. Fix: set the SMTP URL, or unset the CA file.`,
    );
  }
  if (email.outboxDir !== undefined && production) {
    problems.push(
      `${label('email.outboxDir')} is set in production, where e-mails written to a directory never reach anyone. Fix: set email.smtpUrl instead.`,
    );
  }
  const sends = email.smtpUrl !== undefined || email.outboxDir !== undefined;
  const links = [
    ['email.passwordResetUrl', email.passwordResetUrl],
    ['email.verifyEmailUrl', email.verifyEmailUrl],
    ['email.changeEmailUrl', email.changeEmailUrl],
  ] as const;
  for (const [path, value] of links) {
    if (value === undefined) continue;
    const issue = urlProblem(value, production);
    if (issue) {
      problems.push(
        `${label(path)} is ${JSON.stringify(value)}, which ${issue}. Fix: use the https:// URL of your front end's page; the link's #token=… is added to it.`,
      );
    }
    if (!sends) {
      problems.push(
        `${label(path)} is set, but nothing sends e-mail. Fix: set email.smtpUrl (or email.outboxDir in development).`,
      );
    }
  }
  if (sends && production && /@localhost>?$/i.test(email.from)) {
    problems.push(
      `${label('email.from')} is ${JSON.stringify(email.from)}, an address on localhost, in production: receiving servers reject or flag it. Fix: use an address of your domain, e.g. "Example <no-reply@example.com>".`,
    );
  }
  return problems;
}
