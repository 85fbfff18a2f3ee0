import { el, findingsTable, postJson, problemText } from './common.js';

const result = document.getElementById('result');

fetch('/api/oidc/redirect-uri')
  .then((res) => res.json())
  .then((body) => {
    document.getElementById('redirectUri').textContent = body.redirectUri;
  })
  .catch(() => undefined);

document.getElementById('start').addEventListener('submit', async (event) => {
  event.preventDefault();
  const body = {};
  for (const name of ['issuer', 'clientId', 'clientSecret', 'scope']) {
    const value = document.getElementById(name).value.trim();
    if (value !== '') body[name] = value;
  }
  if (body.clientSecret !== undefined)
    body.clientAuth = document.getElementById('clientAuth').value;
  result.replaceChildren(el('p', {}, 'Discovering the provider…'));
  try {
    const res = await postJson('/api/oidc/start', body);
    if (!res.ok) {
      result.replaceChildren(el('p', { class: 'error', id: 'error' }, problemText(res.body)));
      return;
    }
    result.replaceChildren(
      el('h2', {}, 'Provider'),
      findingsTable(res.body.checks),
      el('p', {}, 'Going to the provider…'),
    );
    window.location.assign(res.body.authorizationUrl);
  } catch (error) {
    result.replaceChildren(
      el('p', { class: 'error', id: 'error' }, `The playground did not answer: ${error.message}`),
    );
  }
});
