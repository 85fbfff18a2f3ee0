import { isLoopbackHost } from '../../config/loopback.js';
import { check, evidence, finding, header, type Check, type ScanContext } from '../context.js';
import type { ProbeResponse, ScanFinding } from '../types.js';

const LINE = 8;
const ONE_YEAR = 31_536_000;
const DAY_MS = 86_400_000;

/** HTTPS: the scheme, the protocol versions spoken, the certificate, HSTS. */
export function transportChecks(ctx: ScanContext): Check[] {
  const { client, home } = ctx;
  if (!client.https) return [check('tls.https', LINE, () => plainHttpCheck(ctx))];
  return [
    check('tls.https', LINE, () =>
      finding('tls.https', LINE, 'pass', `Served over HTTPS (${home.tlsProtocol ?? 'TLS'}).`),
    ),
    check('tls.versions', LINE, async () => {
      const old = await client.handshake('TLSv1', 'TLSv1.1');
      return old.protocol === undefined
        ? finding('tls.versions', LINE, 'pass', 'TLS 1.0 and 1.1 handshakes are refused.')
        : finding('tls.versions', LINE, 'fail', `The server still agrees to ${old.protocol}.`, {
            fix: 'Set the minimum TLS version to 1.2.',
          });
    }),
    check('tls.certificate', LINE, async () => {
      const current = await client.handshake('TLSv1.2', 'TLSv1.3');
      const validTo = current.certificate?.valid_to;
      return validTo === undefined ? undefined : certificateFinding(validTo);
    }),
    check('tls.hsts', LINE, () => hstsCheck(home)),
  ];
}

function plainHttpCheck(ctx: ScanContext): ScanFinding {
  const { client, home } = ctx;
  const host = client.url('/').hostname;
  const location = header(home, 'location') ?? '';
  if (home.status >= 301 && home.status <= 308 && location.startsWith('https://')) {
    return finding(
      'tls.https',
      LINE,
      'warn',
      `Plain HTTP redirects to HTTPS (${home.status} to ${location}), so the TLS checks did not run.`,
      {
        fix: 'Scan the https URL; the checks need the API itself, not its redirect.',
        evidence: evidence(home),
      },
    );
  }
  return isLoopbackHost(host)
    ? finding(
        'tls.https',
        LINE,
        'warn',
        'The target is plain HTTP on loopback, so the TLS and HSTS checks did not run.',
        { fix: 'Scan the https URL the API is deployed at.' },
      )
    : finding(
        'tls.https',
        LINE,
        'fail',
        `The API is served over plain HTTP at ${host}: passwords and tokens cross the network readable.`,
        {
          fix: 'Serve HTTPS only (TLS 1.2+), and redirect or refuse plain HTTP.',
          evidence: evidence(home),
        },
      );
}

function certificateFinding(validTo: string): ScanFinding {
  const days = Math.floor((Date.parse(validTo) - Date.now()) / DAY_MS);
  return days < 0
    ? finding('tls.certificate', LINE, 'fail', `The certificate expired on ${validTo}.`, {
        fix: 'Renew the certificate.',
      })
    : days < 14
      ? finding(
          'tls.certificate',
          LINE,
          'warn',
          `The certificate expires in ${days} days (${validTo}).`,
          {
            fix: 'Renew the certificate, and automate renewal.',
          },
        )
      : finding('tls.certificate', LINE, 'pass', `The certificate is valid for ${days} more days.`);
}

function hstsCheck(home: ProbeResponse): ScanFinding {
  const hsts = header(home, 'strict-transport-security');
  const maxAge = hsts === undefined ? undefined : /max-age\s*=\s*"?(\d+)/i.exec(hsts)?.[1];
  if (hsts === undefined || maxAge === undefined) {
    return finding(
      'tls.hsts',
      LINE,
      'fail',
      'HTTPS responses carry no Strict-Transport-Security header.',
      {
        fix: `Send Strict-Transport-Security: max-age=${ONE_YEAR}; includeSubDomains on every HTTPS response.`,
        evidence: evidence(home),
      },
    );
  }
  if (Number(maxAge) === 0) {
    // RFC 6797 §6.1.1: max-age=0 makes a browser forget the host as an HSTS host.
    return finding(
      'tls.hsts',
      LINE,
      'fail',
      `HSTS is turned off: "${hsts}" (max-age=0 tells browsers to forget it).`,
      {
        fix: `Send Strict-Transport-Security: max-age=${ONE_YEAR}; includeSubDomains on every HTTPS response.`,
        evidence: evidence(home),
      },
    );
  }
  if (Number(maxAge) < ONE_YEAR) {
    return finding('tls.hsts', LINE, 'warn', `HSTS max-age is ${maxAge} s, under a year.`, {
      fix: `Use max-age=${ONE_YEAR} or more.`,
      evidence: evidence(home),
    });
  }
  return finding('tls.hsts', LINE, 'pass', `HSTS is sent: ${hsts}.`);
}
