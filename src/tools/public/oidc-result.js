import { el, findingsTable, jsonBlock } from './common.js';

const data = JSON.parse(document.getElementById('data').textContent);
const result = document.getElementById('result');
const parts = [];

if (data.ok) {
  parts.push(
    el(
      'p',
      { class: 'verdict valid', id: 'verdict', 'data-verdict': 'ok' },
      `Signed in at ${data.issuer} as ${data.idTokenClaims?.sub ?? '?'}.`,
    ),
  );
} else {
  parts.push(
    el(
      'p',
      { class: 'verdict invalid', id: 'verdict', 'data-verdict': 'failed' },
      'The sign-in failed.',
    ),
    el('p', { class: 'error', id: 'error' }, `${data.error?.code}: ${data.error?.description}`),
  );
}
if (data.checks?.length) parts.push(el('h2', {}, 'Checks'), findingsTable(data.checks));
if (data.idTokenClaims) parts.push(el('h2', {}, 'ID token claims'), jsonBlock(data.idTokenClaims));
if (data.idTokenInspection) {
  parts.push(
    el('h2', {}, 'ID token, linted as a JWT'),
    findingsTable(data.idTokenInspection.findings),
  );
}
if (data.userInfo) parts.push(el('h2', {}, 'UserInfo'), jsonBlock(data.userInfo));
if (data.tokenResponse) parts.push(el('h2', {}, 'Token response'), jsonBlock(data.tokenResponse));
if (data.idToken)
  parts.push(
    el('label', { for: 'idToken' }, 'ID token'),
    el('textarea', { id: 'idToken', readonly: '', rows: '5' }, data.idToken),
  );
if (data.accessToken)
  parts.push(
    el('label', { for: 'accessToken' }, 'Access token'),
    el('textarea', { id: 'accessToken', readonly: '', rows: '3' }, data.accessToken),
  );
result.replaceChildren(...parts);
