import type { Logger } from 'pino';

/**
 * The catalog of security events. Each capability emits these at the moment the thing happens;
 * sinks (the structured log always, the audit table and webhooks when configured) record them.
 */
export const SECURITY_EVENT_TYPES = [
  'login.succeeded',
  'login.failed',
  'login.throttled',
  'token.invalid',
  'refresh.reused',
  'session.ended',
  'password.changed',
  'password.reset',
  'password.reset_requested',
  'email.verification_sent',
  'email.verified',
  'email.change_requested',
  'email.changed',
  'mfa.enabled',
  'mfa.disabled',
  'mfa.challenged',
  'mfa.recovery_code_used',
  'mfa.recovery_codes_regenerated',
  'user.created',
  'user.updated',
  'user.role_changed',
  'user.disabled',
  'user.deleted',
  'access.denied',
  'rate_limit.exceeded',
  'keys.rotated',
  'keys.master_rotated',
  'keys.reencrypted',
  'config.unsafe_override',
  'audit.pruned',
  'oidc.login_started',
  'oidc.login_succeeded',
  'oidc.login_failed',
  'oidc.identity_linked',
  'oidc.identity_unlinked',
  'oidc.code_exchanged',
  'oidc.code_rejected',
] as const;

export type SecurityEventType = (typeof SECURITY_EVENT_TYPES)[number];

/** Who/where a request came from; copied into every event it causes. */
export interface EventContext {
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
}

/** A security event. Never carries a password, token, key or other secret value. */
export interface SecurityEvent extends EventContext {
  type: SecurityEventType;
  outcome: 'success' | 'failure' | 'denied';
  /** The authenticated user who acted, when there is one. */
  actorId?: string | null;
  /** What the action was about: a user, a session, a key. */
  target?: { type: string; id: string } | null;
  /** Non-secret facts: reason codes, changed field names, counts. */
  details?: Record<string, string | number | boolean | string[] | null>;
}

export interface RecordedSecurityEvent extends SecurityEvent {
  time: number;
}

/** Somewhere events go. A sink must not throw; if it does, the error is logged and swallowed. */
export interface SecurityEventSink {
  record(event: RecordedSecurityEvent): void | Promise<void>;
}

/** Fans security events out to the log and to the registered sinks. Emitting never fails a request. */
export class SecurityEvents {
  private readonly sinks: SecurityEventSink[] = [];

  constructor(
    private readonly logger: Pick<Logger, 'info' | 'warn' | 'error'>,
    private readonly now: () => number = Date.now,
  ) {}

  addSink(sink: SecurityEventSink): void {
    this.sinks.push(sink);
  }

  emit(event: SecurityEvent): void {
    const recorded: RecordedSecurityEvent = { ...event, time: this.now() };
    const level = event.outcome === 'success' ? 'info' : 'warn';
    this.logger[level]({ securityEvent: recorded }, `security event ${event.type}`);
    for (const sink of this.sinks) {
      try {
        const pending = sink.record(recorded);
        if (pending) pending.catch((error: unknown) => this.sinkFailed(error, event));
      } catch (error) {
        this.sinkFailed(error, event);
      }
    }
  }

  private sinkFailed(error: unknown, event: SecurityEvent): void {
    this.logger.error({ err: error, type: event.type }, 'security event sink failed');
  }
}
