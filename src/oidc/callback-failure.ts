import type { ErrorCode } from '../errors.js';
import type { EventContext, SecurityEvents } from '../security-events.js';
import { openidClientIfLoaded } from './openid-client.js';

/** How a failed callback is answered (`code`) and recorded (`reason`, in the security event). */
export interface CallbackFailure {
  code: ErrorCode;
  reason: string;
  detail: string;
}

const REASON = /^[a-z0-9_]{1,40}$/;

/** A provider-sent error code, kept only if it looks like one (it lands in the audit log). */
function safeReason(prefix: string, value: unknown): string {
  return typeof value === 'string' && REASON.test(value) ? `${prefix}_${value}` : prefix;
}

/** The messages and the first `claim`/`attribute` found along an error's cause chain. */
function inspect(error: unknown): { codes: string[]; messages: string; claim: string | undefined } {
  const codes: string[] = [];
  const messages: string[] = [];
  let claim: string | undefined;
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    if (current instanceof Error) {
      messages.push(current.message);
      const code = (current as { code?: unknown }).code;
      if (typeof code === 'string') codes.push(code);
    }
    const cause: unknown = (current as { cause?: unknown }).cause;
    if (typeof cause === 'object' && cause !== null && !(cause instanceof Error)) {
      const c = (cause as { claim?: unknown }).claim;
      if (claim === undefined && typeof c === 'string') claim = c;
    }
    current = cause;
  }
  return { codes, messages: messages.join(' | '), claim };
}

/**
 * Translates what openid-client throws while completing a callback into one catalogued failure.
 * The library's own text never reaches the client; it stays on the error as `cause` for the log.
 */
export function classifyCallbackError(error: unknown): CallbackFailure {
  const client = openidClientIfLoaded();
  if (client !== undefined && error instanceof client.AuthorizationResponseError) {
    return {
      code: 'oidc_provider_denied',
      reason: safeReason('provider', error.error),
      detail: 'The identity provider did not complete the sign-in.',
    };
  }
  if (client !== undefined && error instanceof client.ResponseBodyError) {
    return {
      code: 'oidc_code_rejected',
      reason: safeReason('token_endpoint', error.error),
      detail: 'The identity provider refused the authorization code (already used or expired).',
    };
  }
  const { codes, messages, claim } = inspect(error);
  const has = (code: string): boolean => codes.includes(code);
  if (has('OAUTH_JWT_TIMESTAMP_CHECK_FAILED')) {
    return {
      code: 'oidc_id_token_expired',
      reason: `id_token_${claim ?? 'time'}`,
      detail: 'The ID token is expired or not yet valid.',
    };
  }
  if (has('OAUTH_JWT_CLAIM_COMPARISON_FAILED')) {
    if (claim === 'nonce') {
      return {
        code: 'oidc_nonce_mismatch',
        reason: 'nonce_mismatch',
        detail: 'The ID token was not issued for this sign-in (nonce mismatch).',
      };
    }
    return {
      code: 'oidc_id_token_invalid',
      reason: `id_token_${claim ?? 'claim'}`,
      detail: 'The ID token failed validation.',
    };
  }
  if (has('OAUTH_KEY_SELECTION_FAILED')) {
    return {
      code: 'oidc_id_token_invalid',
      reason: 'id_token_unknown_key',
      detail: 'The ID token is signed with a key the provider does not publish.',
    };
  }
  if (messages.includes('signature verification failed')) {
    return {
      code: 'oidc_id_token_invalid',
      reason: 'id_token_signature',
      detail: 'The ID token signature is invalid.',
    };
  }
  // RFC 9207 2.4: a provider that announces the parameter must send it; its absence is the
  // mark of a response from another authorization server (a mix-up), not a bad token.
  if (messages.includes('response parameter "iss" (issuer) missing')) {
    return {
      code: 'oidc_issuer_mismatch',
      reason: 'iss_parameter_missing',
      detail: 'The sign-in response does not name its issuer, though this provider always does.',
    };
  }
  if (messages.includes('"iss" (issuer) response parameter')) {
    return {
      code: 'oidc_issuer_mismatch',
      reason: 'iss_parameter',
      detail: 'The sign-in response names another issuer than the one it was sent to.',
    };
  }
  if (messages.includes('"state"')) {
    return {
      code: 'oidc_state_mismatch',
      reason: 'state_mismatch',
      detail: 'The sign-in state does not match.',
    };
  }
  if (has('OAUTH_INVALID_RESPONSE') || has('OAUTH_PARSE_ERROR')) {
    return {
      code: 'oidc_id_token_invalid',
      reason: 'invalid_response',
      detail: 'The identity provider answered with an invalid token response.',
    };
  }
  return {
    code: 'oidc_provider_unavailable',
    reason: 'provider_unreachable',
    detail: 'The identity provider could not be reached or answered unexpectedly.',
  };
}

/**
 * Records a refused sign-in (`oidc.login_failed`) with its reason; `userId` when the account is
 * known.
 */
export function emitLoginFailed(
  events: SecurityEvents,
  provider: string,
  reason: string,
  context: EventContext,
  userId?: string,
): void {
  events.emit({
    ...context,
    type: 'oidc.login_failed',
    outcome: 'failure',
    target: userId ? { type: 'user', id: userId } : null,
    details: { provider, reason },
  });
}
