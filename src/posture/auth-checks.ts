import { JWKS_MAX_AGE_SECONDS, SAFE_KEY_PUBLISH_AHEAD_SECONDS } from '../config/signing-keys.js';
import { durationWords } from '../access/duration-words.js';
import { pass, productionFail, type Outcome, type PostureCheck } from './types.js';

// Checklist lines 1–3: password hashing, tokens, account recovery, roles and recent sign-in,
// external sign-in.

/** OWASP's equivalent argon2id settings: memory (KiB) and the iterations it needs at least. */
const OWASP_ARGON2: [number, number][] = [
  [47_104, 1],
  [19_456, 2],
  [12_288, 3],
  [9_216, 4],
  [7_168, 5],
];
const ADMIN_PERMISSIONS = ['users:read', 'users:write', 'audit:read', 'keys:rotate'];

export const argon2Check: PostureCheck = {
  id: 'auth.argon2',
  line: 1,
  run(context) {
    const p = context.config.passwords;
    const settings = `argon2id m=${p.argon2MemoryKiB} KiB, t=${p.argon2Iterations}, p=${p.argon2Parallelism}`;
    const strong = OWASP_ARGON2.some(([m, t]) => p.argon2MemoryKiB >= m && p.argon2Iterations >= t);
    if (!strong) {
      return {
        status: productionFail(context),
        reason: `${settings} is below every OWASP minimum: stolen hashes are cheap to crack.`,
        fix: 'set passwords.argon2MemoryKiB=19456 and passwords.argon2Iterations=2 (the defaults).',
      };
    }
    return pass(`${settings} meets OWASP; ${context.config.tokens.algorithm} access tokens.`);
  },
};

export const tokenLifetimeCheck: PostureCheck = {
  id: 'auth.token-lifetime',
  line: 1,
  run(context) {
    const ttl = context.config.tokens.accessTokenTtlSeconds;
    if (ttl > 3_600) {
      return {
        status: 'warn',
        reason: `access tokens live ${ttl} s: one leaked from a client stays usable that long unless its session is ended.`,
        fix: 'keep tokens.accessTokenTtlSeconds at 900 (15 min) or less; clients refresh.',
      };
    }
    const ahead = context.config.tokens.keyPublishAheadSeconds;
    if (ahead < SAFE_KEY_PUBLISH_AHEAD_SECONDS) {
      return {
        status: 'warn',
        reason: `a rotated signing key signs ${ahead} s after it is published, but verifiers may cache the JWKS for ${JWKS_MAX_AGE_SECONDS} s: after \`bulwark keys rotate\` they refuse the new key's tokens until their copy expires.`,
        fix: `set tokens.keyPublishAheadSeconds to ${SAFE_KEY_PUBLISH_AHEAD_SECONDS} or more (the default is 600).`,
      };
    }
    return pass(
      `access tokens live ${ttl} s; refresh tokens rotate on every use; a rotated signing key is published ${ahead} s before it signs.`,
    );
  },
};

export const accountRecoveryCheck: PostureCheck = {
  id: 'auth.account-recovery',
  line: 1,
  run(context) {
    const e = context.config.email;
    if (e.smtpUrl === undefined && e.outboxDir === undefined) {
      return pass(
        'no account e-mails: no password reset by link and no address verification; an operator resets a password with `bulwark user set-password`.',
      );
    }
    const outcomes: Outcome[] = [];
    if (e.passwordResetUrl !== undefined && e.passwordResetTtlSeconds > 3_600) {
      outcomes.push({
        status: 'warn',
        reason: `password reset links work for ${e.passwordResetTtlSeconds} s: a link read late, in a forwarded or shared mailbox, still takes the account.`,
        fix: 'keep email.passwordResetTtlSeconds at 1800 (30 min) or less.',
      });
    }
    if (e.perAccountPerHour > 20) {
      outcomes.push({
        status: 'warn',
        reason: `each account may be sent ${e.perAccountPerHour} e-mails an hour: anyone can flood a victim's mailbox through /password/forgot.`,
        fix: 'keep email.perAccountPerHour at 5 (the default) or close to it.',
      });
    }
    if (e.outboxDir !== undefined) {
      outcomes.push({
        status: productionFail(context),
        reason: `account e-mails are written to ${e.outboxDir}, never sent.`,
        fix: 'set email.smtpUrl (production refuses the outbox).',
      });
    }
    const features = [
      ...(e.passwordResetUrl === undefined ? [] : ['password reset']),
      ...(e.verifyEmailUrl === undefined ? [] : ['address verification']),
      ...(e.changeEmailUrl === undefined ? [] : ['address change']),
    ];
    return outcomes.length > 0
      ? outcomes
      : pass(
          `${features.length > 1 ? `${features.slice(0, -1).join(', ')} and ${features.at(-1)!}` : features.join('')} by e-mail over ${e.smtpUrl?.startsWith('smtps:') ? 'TLS' : 'STARTTLS (plain only on loopback)'}: single-use hashed links, ${e.passwordResetTtlSeconds} s for a reset, at most ${e.perAccountPerHour} e-mails per account an hour.`,
        );
  },
};

export const defaultRoleCheck: PostureCheck = {
  id: 'access.default-role',
  line: 2,
  run(context) {
    const { defaultRole, roles, recentSignInSeconds, privilegedRecentSignInSeconds } =
      context.config.access;
    const granted = (roles[defaultRole] ?? []).filter((p) => ADMIN_PERMISSIONS.includes(p));
    if (granted.length > 0) {
      return {
        status: productionFail(context),
        reason: `self-registered users get role "${defaultRole}", which grants ${granted.join(', ')}: anyone who registers becomes an administrator.`,
        fix: 'set access.defaultRole to a role without admin permissions (the default "user").',
      };
    }
    // The recent sign-in windows are bounded by the config schema (1 min to 24 h), so they stay a
    // pass: reported so that the operator sees how old a sign-in, or a stolen session that keeps
    // refreshing, may be for the most damaging actions.
    return pass(
      `${Object.keys(roles).length} roles; self-registered users get "${defaultRole}" with no admin permission; objects are owner-only (404); account deletion needs a sign-in within the last ${durationWords(recentSignInSeconds)}; administrators' changes to other accounts within the last ${durationWords(privilegedRecentSignInSeconds)}.`,
    );
  },
};

/** Where a provider URL points: plain http sends codes and tokens in clear. */
function plainHttp(url: string): boolean {
  return url.startsWith('http://');
}

export const oidcCheck: PostureCheck = {
  id: 'oidc.providers',
  line: 3,
  run(context) {
    const { providers, cookieSecure } = context.config.oidc;
    const names = Object.keys(providers);
    if (names.length === 0) {
      return pass('no external identity provider is configured: password login only.');
    }
    const outcomes: Outcome[] = [];
    for (const [name, p] of Object.entries(providers)) {
      const insecure = [
        ...(p.issuer !== undefined && plainHttp(p.issuer) ? ['issuer'] : []),
        ...(plainHttp(p.redirectUri) ? ['redirectUri'] : []),
        ...(p.appUrls.some(plainHttp) ? ['appUrls'] : []),
      ];
      if (insecure.length > 0) {
        outcomes.push({
          status: productionFail(context),
          reason: `provider "${name}" uses plain http for ${insecure.join(', ')}: authorization codes and one-time codes would cross the network in clear.`,
          fix: `use https:// URLs for oidc.providers.${name}.`,
        });
      }
      if (p.allowLinkingVerifiedEmail && p.preset !== 'google') {
        outcomes.push({
          status: 'warn',
          reason: `provider "${name}" links sign-ins to existing accounts by verified email: anyone who can make this provider vouch for an address takes over that account.`,
          fix: `keep oidc.providers.${name}.allowLinkingVerifiedEmail only if the provider verifies every address it asserts.`,
        });
      }
    }
    if (!cookieSecure) {
      outcomes.push({
        status: productionFail(context),
        reason: 'oidc.cookieSecure is false: the sign-in cookies would be sent over plain http.',
        fix: 'serve over HTTPS and leave oidc.cookieSecure true.',
      });
    }
    return outcomes.length > 0
      ? outcomes
      : pass(
          `${names.length} provider(s) (${names.join(', ')}): code flow with PKCE S256, state and nonce; ID tokens checked against the provider's JWKS; exact redirect and app URLs over https.`,
        );
  },
};
