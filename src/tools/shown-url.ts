/**
 * A URL the user gave, as a message may show it: its user name and password replaced by `***`
 * (`https://***@host/path`). Messages reach terminals, CI logs and web pages; credentials in a
 * URL must not. Text that does not parse as a URL is masked up to its last `@` (more than the
 * credentials, perhaps, never less).
 * @see https://www.rfc-editor.org/rfc/rfc3986#section-3.2.1 (userinfo)
 */
export function shownUrl(given: string | URL): string {
  let url: URL | undefined;
  try {
    url = typeof given === 'string' ? new URL(given) : given;
  } catch {
    url = undefined;
  }
  if (url === undefined) {
    return (given as string).replace(/^(\s*[a-z][a-z\d+.-]*:[/\\]*)?.*@/is, '$1***@');
  }
  if (url.username === '' && url.password === '')
    return typeof given === 'string' ? given : url.href;
  return `${url.protocol}//***@${url.host}${url.pathname}${url.search}${url.hash}`;
}
