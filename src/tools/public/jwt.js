import { el, findingsTable, jsonBlock, postJson, problemText } from './common.js';

const HINTS = {
  jwksUrl:
    'e.g. http://127.0.0.1:3000/.well-known/jwks.json: fetched by this local server, not the browser.',
  jwks: '{"keys": [...]} or one JWK; public keys only.',
  pem: '-----BEGIN PUBLIC KEY----- … or a certificate.',
  secret: 'The shared secret, as text.',
  none: 'The token is decoded and linted; its signature is not checked.',
};

const form = document.getElementById('verify');
const kind = document.getElementById('keyKind');
const key = document.getElementById('key');
const hint = document.getElementById('keyHint');
const result = document.getElementById('result');

function showHint() {
  hint.textContent = HINTS[kind.value];
  key.disabled = kind.value === 'none';
}
kind.addEventListener('change', showHint);
showHint();

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const body = { token: document.getElementById('token').value.trim() };
  if (kind.value !== 'none' && key.value.trim() !== '')
    body[kind.value] = kind.value === 'secret' ? key.value : key.value.trim();
  for (const name of ['issuer', 'audience']) {
    const value = document.getElementById(name).value.trim();
    if (value !== '') body[name] = value;
  }
  const tolerance = Number(document.getElementById('clockTolerance').value || 0);
  if (tolerance > 0) body.clockToleranceSeconds = tolerance;
  result.replaceChildren(el('p', {}, 'Checking…'));
  try {
    const res = await postJson('/api/jwt/verify', body);
    if (!res.ok) {
      result.replaceChildren(el('p', { class: 'error', id: 'error' }, problemText(res.body)));
      return;
    }
    const report = res.body;
    const verdicts = {
      valid: 'Valid: the signature verifies and every check passes.',
      invalid: 'Invalid: do not trust this token.',
      unverified: 'Not verified: no key was given, so nothing in it can be trusted yet.',
    };
    result.replaceChildren(
      el(
        'p',
        { class: `verdict ${report.verdict}`, id: 'verdict', 'data-verdict': report.verdict },
        verdicts[report.verdict],
      ),
      el('h2', {}, 'Checks'),
      findingsTable(report.findings),
      el(
        'div',
        { class: 'columns' },
        el('div', {}, el('h2', {}, 'Header'), jsonBlock(report.header)),
        el('div', {}, el('h2', {}, 'Payload'), jsonBlock(report.payload)),
      ),
    );
  } catch (error) {
    result.replaceChildren(
      el('p', { class: 'error', id: 'error' }, `The verifier did not answer: ${error.message}`),
    );
  }
});
