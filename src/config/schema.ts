import { Type, type Static } from 'typebox';
import {
  ApiSettings,
  CorsSettings,
  HstsSettings,
  HttpSettings,
  ServerSettings,
  TlsSettings,
} from './http-settings.js';
import { EmailSettings, OidcSettings } from './identity-settings.js';
import {
  AuditSettings,
  DocsSettings,
  LogSettings,
  MetricsSettings,
} from './observability-settings.js';
import {
  AccessSettings,
  KeysSettings,
  PasswordsSettings,
  TokensSettings,
} from './security-settings.js';
import { DatabaseSettings, RateLimitSettings, RedisSettings } from './store-settings.js';

/*
 * The one configuration schema. Every setting has a default (secure unless its name says
 * otherwise) and, where it has one, its unit in its name (`...Ms`, `...Seconds`, `...Bytes`).
 * Each leaf is settable from the environment as BULWARK_<PATH> (see ./env.ts), from a JSON file
 * given with --config, or programmatically through createConfig(). docs/config.md lists them all.
 */

/** The one config schema: every setting with its default, unit and meaning (docs/config.md). */
export const ConfigSchema = Type.Object(
  {
    env: Type.Union(
      [Type.Literal('development'), Type.Literal('production'), Type.Literal('test')],
      {
        default: 'development',
        description: 'Deployment environment. production turns on the strict posture checks.',
      },
    ),
    server: ServerSettings,
    tls: TlsSettings,
    hsts: HstsSettings,
    http: HttpSettings,
    cors: CorsSettings,
    api: ApiSettings,
    database: DatabaseSettings,
    keys: KeysSettings,
    passwords: PasswordsSettings,
    tokens: TokensSettings,
    access: AccessSettings,
    redis: RedisSettings,
    rateLimit: RateLimitSettings,
    docs: DocsSettings,
    audit: AuditSettings,
    metrics: MetricsSettings,
    oidc: OidcSettings,
    email: EmailSettings,
    log: LogSettings,
  },
  { additionalProperties: false },
);

/** The validated, frozen configuration every part of Bulwark reads. */
export type Config = Static<typeof ConfigSchema>;

/** Any subset of the configuration, as given by a file or a caller. */
export type ConfigInput = DeepPartial<Config>;

export type DeepPartial<T> = T extends readonly (infer U)[]
  ? readonly U[]
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;
