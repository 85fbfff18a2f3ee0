import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startToolsServer, type ToolsServer } from '../../src/tools/server.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { launchChromium } from '../helpers/browser.js';
import { registerAndLogin } from '../helpers/identity.js';
import { TestOidcProvider } from '../helpers/oidc-provider.js';

/** A page that records CSP violations and any request that leaves the allowed origins. */
async function watchedPage(
  browser: Browser,
  allowed: string[],
): Promise<{ page: Page; violations: string[]; outside: string[] }> {
  const page = await browser.newPage();
  const violations: string[] = [];
  const outside: string[] = [];
  page.on('console', (msg) => {
    if (/Content Security Policy|Refused to/i.test(msg.text())) violations.push(msg.text());
  });
  page.on('request', (req) => {
    if (!allowed.some((origin) => req.url().startsWith(origin))) outside.push(req.url());
  });
  return { page, violations, outside };
}

describe('the tools in a real browser', () => {
  let browser: Browser;
  let tools: ToolsServer;
  let bulwark: TestApp;
  let bulwarkUrl: string;
  let provider: TestOidcProvider;

  beforeAll(async () => {
    browser = await launchChromium();
    tools = await startToolsServer({ host: '127.0.0.1', port: 0 });
    bulwark = await buildTestApp();
    await bulwark.app.listen({ port: 0, host: '127.0.0.1' });
    bulwarkUrl = `http://127.0.0.1:${(bulwark.app.server.address() as AddressInfo).port}`;
    provider = await TestOidcProvider.start({
      redirectUris: [`${tools.url}/oidc/callback`],
      accounts: [{ sub: 'alice', email: 'alice@example.com', email_verified: true, name: 'Alice' }],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await tools?.close();
    await bulwark?.app.close();
    await provider?.stop();
  });

  it('JWT verifier: a Bulwark token is valid against its JWKS URL; a changed one is invalid', async () => {
    const { accessToken } = await registerAndLogin(bulwark.app);
    const { page, violations, outside } = await watchedPage(browser, [tools.url]);
    await page.goto(`${tools.url}/jwt`);
    await page.fill('#token', accessToken);
    await page.selectOption('#keyKind', 'jwksUrl');
    await page.fill('#key', `${bulwarkUrl}/.well-known/jwks.json`);
    await page.fill('#issuer', 'bulwark');
    await page.fill('#audience', 'bulwark-api');
    await page.click('button[type=submit]');
    await page.waitForSelector('#verdict', { timeout: 10_000 });
    expect(await page.getAttribute('#verdict', 'data-verdict')).toBe('valid');
    expect(await page.textContent('tr[data-check="signature"]')).toContain('verifies');
    expect(await page.textContent('#result')).toContain('"typ": "at+jwt"');

    const [h, p, s] = accessToken.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
    const changed = `${h}.${Buffer.from(JSON.stringify({ ...payload, role: 'admin' })).toString('base64url')}.${s}`;
    await page.fill('#token', changed);
    await page.click('button[type=submit]');
    await page.waitForSelector('#verdict[data-verdict="invalid"]', { timeout: 10_000 });
    expect(await page.getAttribute('tr[data-check="signature"]', 'data-status')).toBe('fail');

    await page.fill('#token', 'not a token');
    await page.click('button[type=submit]');
    await page.waitForSelector('#error', { timeout: 10_000 });
    expect(await page.textContent('#error')).toContain('three parts');
    // Nothing the page showed was parsed as HTML, and it never left the tools server.
    expect(violations).toEqual([]);
    expect(outside).toEqual([]);
    await page.close();
  });

  it('OIDC playground: signs in at a real provider with PKCE and shows the verified claims', async () => {
    const { page, violations } = await watchedPage(browser, [tools.url, provider.issuer]);
    await page.goto(`${tools.url}/oidc`);
    await expect.poll(() => page.textContent('#redirectUri')).toBe(`${tools.url}/oidc/callback`);
    await page.fill('#issuer', provider.issuer);
    await page.fill('#clientId', provider.clientId);
    await page.fill('#clientSecret', provider.clientSecret);
    await page.click('button[type=submit]');
    // oidc-provider's own sign-in and consent pages.
    await page.waitForSelector('input[name=login]', { timeout: 10_000 });
    expect(new URL(page.url()).origin).toBe(provider.issuer);
    await page.fill('input[name=login]', 'alice');
    await page.fill('input[name=password]', 'any');
    await page.click('button[type=submit]');
    await page.waitForSelector('button[type=submit]', { timeout: 10_000 });
    await page.click('button[type=submit]');
    await page.waitForSelector('#verdict', { timeout: 15_000 });
    expect(page.url()).toMatch(new RegExp(`^${tools.url}/oidc/callback\\?`));
    expect(await page.getAttribute('#verdict', 'data-verdict')).toBe('ok');
    const text = (await page.textContent('#result')) ?? '';
    expect(text).toContain(`Signed in at ${provider.issuer}/ as alice`);
    expect(text).toContain('"email": "alice@example.com"');
    expect(await page.getAttribute('tr[data-check="pkce"]', 'data-status')).toBe('pass');
    expect(await page.getAttribute('tr[data-check="id-token"]', 'data-status')).toBe('pass');
    expect(provider.tokenRequests).toBeGreaterThan(0);
    // The client secret went to the tools server only: never into the page or a URL.
    expect(await page.content()).not.toContain(provider.clientSecret);
    expect(violations).toEqual([]);

    // The callback is good once: a replay finds no sign-in.
    await page.reload();
    await page.waitForSelector('#verdict[data-verdict="failed"]', { timeout: 10_000 });
    expect(await page.textContent('#error')).toContain('unknown_state');
    await page.close();
  });

  it('OIDC playground: shows the provider refusing (the user cancels at the provider)', async () => {
    const { page } = await watchedPage(browser, [tools.url, provider.issuer]);
    await page.goto(`${tools.url}/oidc`);
    await page.fill('#issuer', provider.issuer);
    await page.fill('#clientId', provider.clientId);
    await page.fill('#clientSecret', provider.clientSecret);
    await page.click('button[type=submit]');
    await page.waitForSelector('input[name=login]', { timeout: 10_000 });
    const abort = await page.getAttribute('a[href*="/abort"]', 'href');
    await page.goto(new URL(abort!, page.url()).href);
    await page.waitForSelector('#verdict[data-verdict="failed"]', { timeout: 10_000 });
    expect(await page.textContent('#error')).toContain('access_denied');
    await page.close();
  });

  it('OIDC playground: an issuer without discovery is an error on the form', async () => {
    const { page } = await watchedPage(browser, [tools.url]);
    await page.goto(`${tools.url}/oidc`);
    await page.fill('#issuer', bulwarkUrl);
    await page.fill('#clientId', 'someone');
    await page.click('button[type=submit]');
    await page.waitForSelector('#error', { timeout: 10_000 });
    expect(await page.textContent('#error')).toContain('Discovery at');
    expect(page.url()).toBe(`${tools.url}/oidc`);
    await page.close();
  });
});
