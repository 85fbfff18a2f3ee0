import { describe, expect, it } from 'vitest';
import { deliveryFailure } from '../../src/mail/delivery-failure.js';

const error = (fields: Record<string, unknown>) =>
  Object.assign(new Error('550 5.1.1 <alice@example.com>: no such user, body line: secret'), {
    response: '550 5.1.1 <alice@example.com>: no such user',
    ...fields,
  });

describe('deliveryFailure', () => {
  it.each([
    [
      { code: 'EMESSAGE', responseCode: 451 },
      { transient: true, responseCode: 451, code: 'EMESSAGE' },
    ],
    [
      { code: 'EENVELOPE', responseCode: 452 },
      { transient: true, responseCode: 452, code: 'EENVELOPE' },
    ],
    [
      { code: 'ECONNECTION', responseCode: 421 },
      { transient: true, responseCode: 421, code: 'ECONNECTION' },
    ],
    [
      { code: 'EMESSAGE', responseCode: 550 },
      { transient: false, responseCode: 550, code: 'EMESSAGE' },
    ],
    [
      { code: 'EAUTH', responseCode: 535 },
      { transient: false, responseCode: 535, code: 'EAUTH' },
    ],
    [{ code: 'ETIMEDOUT' }, { transient: true, code: 'ETIMEDOUT' }],
    [
      { code: 'ESOCKET', originalCode: 'ECONNREFUSED' },
      { transient: true, code: 'ECONNREFUSED' },
    ],
    [{ code: 'ECONNECTION' }, { transient: true, code: 'ECONNECTION' }],
    [
      { code: 'EDNS', originalCode: 'ENOTFOUND' },
      { transient: true, code: 'ENOTFOUND' },
    ],
    // A certificate that does not verify is an operator's problem: retrying changes nothing.
    [
      { code: 'ESOCKET', originalCode: 'DEPTH_ZERO_SELF_SIGNED_CERT' },
      { transient: false, code: 'DEPTH_ZERO_SELF_SIGNED_CERT' },
    ],
    [
      { code: 'ESOCKET', originalCode: 'ERR_TLS_CERT_ALTNAME_INVALID' },
      { transient: false, code: 'ERR_TLS_CERT_ALTNAME_INVALID' },
    ],
    [
      { code: 'ESOCKET', originalCode: 'CERT_HAS_EXPIRED' },
      { transient: false, code: 'CERT_HAS_EXPIRED' },
    ],
    [{ code: 'ETLS' }, { transient: false, code: 'ETLS' }],
    [{ code: 'EAUTH' }, { transient: false, code: 'EAUTH' }],
    [{ code: 'EEXIST' }, { transient: false, code: 'EEXIST' }],
  ])('%j → %j', (fields, expected) => {
    expect(deliveryFailure(error(fields))).toEqual(expected);
  });

  it('keeps neither the message nor the reply text, and drops codes that are not codes', () => {
    const failure = deliveryFailure(
      error({ code: 'EMESSAGE <alice@example.com>', responseCode: 550.5, originalCode: 42 }),
    );
    expect(failure).toEqual({ transient: false });
    expect(
      JSON.stringify(deliveryFailure(error({ code: 'EMESSAGE', responseCode: 550 }))),
    ).not.toMatch(/alice|secret|no such user/);
  });

  it('treats a thrown non-error as permanent', () => {
    expect(deliveryFailure('boom')).toEqual({ transient: false });
    expect(deliveryFailure(undefined)).toEqual({ transient: false });
  });
});
