import { isIP } from 'node:net';
import { DEV_CERT_ORGANIZATION } from '../crypto/dev-certificate.js';
import { ConfigError } from '../errors.js';
import { readTlsCredentials } from '../http/tls.js';
import {
  pass,
  productionFail,
  type Outcome,
  type PostureCheck,
  type PostureContext,
} from './types.js';

const DAY_MS = 86_400_000;
/** Certificates closer than this to expiry are reported, so renewal is not discovered by users. */
export const CERT_RENEWAL_WARNING_DAYS = 30;

/** "12 days", or hours under two days (a floor of days would say "0 days" for 23 hours). */
function timeLeft(ms: number): string {
  const hours = Math.floor(ms / 3_600_000);
  if (hours < 48) return `${hours} hour${hours === 1 ? '' : 's'}`;
  const days = Math.floor(ms / DAY_MS);
  return `${days} days`;
}

function certificateOutcomes(context: PostureContext): Outcome[] {
  const { tls, server } = context.config;
  let credentials;
  try {
    credentials = readTlsCredentials(tls);
  } catch (error) {
    const reason =
      error instanceof ConfigError ? error.problems.join(' ') : 'the TLS files cannot be used.';
    return [
      {
        status: 'fail',
        reason,
        fix: 'point tls.certFile and tls.keyFile at a valid certificate and its key.',
      },
    ];
  }
  const { leaf } = credentials;
  const outcomes: Outcome[] = [];
  const notBefore = Date.parse(leaf.validFrom);
  const notAfter = Date.parse(leaf.validTo);
  const now = context.now.getTime();
  if (notAfter <= now) {
    outcomes.push({
      status: productionFail(context),
      reason: `the certificate in ${tls.certFile} expired on ${new Date(notAfter).toISOString()}; clients refuse it.`,
      fix: 'renew it, replace the file and send SIGHUP (no restart needed).',
    });
  } else if (notBefore > now) {
    outcomes.push({
      status: productionFail(context),
      reason: `the certificate in ${tls.certFile} is not valid before ${new Date(notBefore).toISOString()}.`,
      fix: "check this machine's clock, or the certificate's dates.",
    });
  } else if (notAfter - now < CERT_RENEWAL_WARNING_DAYS * DAY_MS) {
    outcomes.push({
      status: 'warn',
      reason: `the certificate in ${tls.certFile} expires in ${timeLeft(notAfter - now)}, on ${new Date(notAfter).toISOString()}.`,
      fix: 'renew it, replace the file and send SIGHUP.',
    });
  }
  const details = leaf.publicKey.asymmetricKeyDetails;
  if (leaf.publicKey.asymmetricKeyType === 'rsa' && (details?.modulusLength ?? 0) < 2048) {
    outcomes.push({
      status: productionFail(context),
      reason: `the certificate's RSA key has ${details?.modulusLength ?? 0} bits; at least 2048 are needed.`,
      fix: 'issue a certificate for an RSA-2048+ or a P-256 key.',
    });
  }
  const selfSigned = leaf.issuer === leaf.subject && leaf.verify(leaf.publicKey);
  if (leaf.subject.split('\n').includes(`O=${DEV_CERT_ORGANIZATION}`)) {
    outcomes.push({
      status: productionFail(context),
      reason: `${tls.certFile} is a development certificate from \`bulwark dev-cert\`, trusted by no client.`,
      fix: "use a certificate from your CA (e.g. Let's Encrypt).",
    });
  } else if (selfSigned) {
    outcomes.push({
      status: 'warn',
      reason: `${tls.certFile} is self-signed: clients must be configured to trust it one by one.`,
      fix: 'use a certificate issued by a CA your clients trust.',
    });
  }
  if (server.publicOrigin !== undefined) {
    const host = new URL(server.publicOrigin).hostname.replace(/^\[|\]$/g, '');
    const matches = isIP(host) ? leaf.checkIP(host) : leaf.checkHost(host);
    if (matches === undefined) {
      outcomes.push({
        status: productionFail(context),
        reason: `the certificate in ${tls.certFile} is not valid for ${host}, the host of server.publicOrigin.`,
        fix: `use a certificate whose subjectAltName covers ${host}.`,
      });
    }
  }
  if (outcomes.length === 0) {
    outcomes.push(
      pass(
        `HTTPS on port ${server.port} (TLS ${tls.minVersion}+, ECDHE+AEAD only); certificate valid until ${new Date(notAfter).toISOString()}, matches its key.`,
      ),
    );
  }
  return outcomes;
}

/** Line 8: traffic is encrypted — by Bulwark itself, or by a trusted proxy in front of it. */
export const transportCheck: PostureCheck = {
  id: 'https.transport',
  line: 8,
  run(context) {
    const { tls, server } = context.config;
    if (tls.certFile !== undefined || tls.keyFile !== undefined)
      return certificateOutcomes(context);
    if (server.trustProxy.length > 0) {
      return pass(
        `TLS is terminated by the trusted proxy (${server.trustProxy.join(', ')}); its X-Forwarded-Proto: https counts as HTTPS.`,
      );
    }
    return {
      status: productionFail(context),
      reason:
        'neither TLS (tls.certFile + tls.keyFile) nor a trusted TLS-terminating proxy (server.trustProxy) is configured: tokens and passwords would cross the network in clear text.',
      fix: 'set BULWARK_TLS_CERT_FILE and BULWARK_TLS_KEY_FILE, or put the service behind a TLS proxy and list it in BULWARK_SERVER_TRUST_PROXY.',
    };
  },
};
