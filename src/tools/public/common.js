// Shared by the tool pages. Everything is rendered with textContent: nothing a token, a provider
// or a server returns is ever parsed as HTML.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children)
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

/** A table of findings: status, check, message. */
export function findingsTable(findings) {
  const table = el('table', { class: 'findings' });
  for (const finding of findings) {
    table.append(
      el(
        'tr',
        { 'data-check': finding.check, 'data-status': finding.status },
        el('td', { class: `status-${finding.status}` }, finding.status),
        el('td', {}, finding.check),
        el('td', {}, finding.message),
      ),
    );
  }
  return table;
}

export function jsonBlock(value) {
  return el('pre', {}, JSON.stringify(value, null, 2));
}

/** Posts JSON to this server; resolves with { ok, status, body }. */
export async function postJson(path, body) {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { ok: res.ok, status: res.status, body: await res.json() };
}

/** The message of a problem document, with the field errors. */
export function problemText(problem) {
  const details = (problem.errors ?? []).map((e) => `${e.path}: ${e.message}`).join('; ');
  return `${problem.title ?? 'Error'}: ${problem.detail ?? ''}${details && !problem.detail?.includes(details) ? ` (${details})` : ''}`;
}
