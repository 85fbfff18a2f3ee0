/**
 * A URL the user gave, as a message may show it: its user name and password, its query values
 * and its fragment replaced by `***` (`https://***@host/jwks?sig=***&sv=***#***`). Messages reach
 * terminals, CI logs and web pages; the secrets a URL carries must not: credentials, and the keys
 * and signatures of signed or keyed URLs (`?sig=`, `?key=`, `?token=`, SAS tokens). Parameter
 * names stay, so the user can tell which URL it is; a query term without `=` could be a bare key
 * and is hidden whole. Text that does not parse as a URL is masked up to its last `@` (more than
 * the credentials, perhaps, never less), then its query and fragment the same way.
 * @see https://www.rfc-editor.org/rfc/rfc3986#section-3.2.1 (userinfo)
 * @see https://www.rfc-editor.org/rfc/rfc3986#section-3.4 (query)
 */
export function shownUrl(given: string | URL): string {
  let url: URL | undefined;
  try {
    url = typeof given === 'string' ? new URL(given) : given;
  } catch {
    url = undefined;
  }
  if (url === undefined) {
    return withoutQueryValues(
      (given as string).replace(/^(\s*[a-z][a-z\d+.-]*:[/\\]*)?.*@/is, '$1***@'),
    );
  }
  if (url.username === '' && url.password === '' && url.search === '' && url.hash === '')
    return typeof given === 'string' ? given : url.href;
  const shown = new URL(url.href);
  if (url.username !== '' || url.password !== '') {
    shown.username = '***';
    shown.password = '';
  }
  // In an href the first "?" starts the query and the first "#" the fragment: neither can
  // appear unencoded before them once the user name is ***.
  return withoutQueryValues(shown.href);
}

/** `text` with each query value and the fragment shown as `***` (an empty one stays empty). */
function withoutQueryValues(text: string): string {
  const hashAt = text.indexOf('#');
  const beforeHash = hashAt === -1 ? text : text.slice(0, hashAt);
  const fragment = hashAt === -1 ? '' : `#${hashAt === text.length - 1 ? '' : '***'}`;
  const queryAt = beforeHash.indexOf('?');
  if (queryAt === -1) return `${beforeHash}${fragment}`;
  const terms = beforeHash
    .slice(queryAt + 1)
    .split('&')
    .map((term) => {
      const eq = term.indexOf('=');
      if (eq === -1) return term === '' ? '' : '***';
      return eq === term.length - 1 ? term : `${term.slice(0, eq)}=***`;
    });
  return `${beforeHash.slice(0, queryAt)}?${terms.join('&')}${fragment}`;
}
