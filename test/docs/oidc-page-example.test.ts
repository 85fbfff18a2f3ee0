/*
 * docs/examples/oidc-signed-in.html, the page at a provider's appUrls, driven in Chromium through
 * the whole sign-in of docs/oidc.md: the API over HTTPS, a real OpenID Connect provider
 * (oidc-provider) on loopback whose login and consent forms the browser fills in, and the page on
 * its own origin exchanging the one-time code across origins with the hand-off cookie. What the
 * HTTP-level tests (test/oidc) cannot show: that a real browser keeps and sends the `__Host-`,
 * Secure, SameSite=Lax cookies across the provider's redirects, that CORS lets the credentialed
 * exchange and the bearer call through, and that the code never leaves the browser but to the API.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../../src/crypto/index.js';
import { launchChromium } from '../helpers/browser.js';
import { wrongCode } from '../helpers/mfa.js';
import { devCertFiles, type CertFiles } from '../helpers/tls.js';
import {
  CALLBACK_PATH,
  HANDOFF_COOKIE,
  LOGIN_COOKIE,
  appNow,
  events,
  linkedWithMfa,
  oidcFixture,
  type OidcFixture,
} from '../oidc/support.js';

const PAGE = readFileSync(
  new URL('../../docs/examples/oidc-signed-in.html', import.meta.url),
  'utf8',
);

let cert: CertFiles;
let pages: ReturnType<typeof createHttpsServer>;
let pageOrigin: string;
let apiOrigin: string;
let f: OidcFixture;
let browser: Browser;
/** What the page's server was asked: each request's URL and Referer. */
const seenByPageServer: string[] = [];

/** A free loopback port: the provider must know the callback URL before the API listens. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe: Server = createTcpServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  cert = devCertFiles();
  let api = '';
  pages = createHttpsServer(
    { cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) },
    (req, res) => {
      seenByPageServer.push(`${req.url ?? ''} ${req.headers.referer ?? ''}`);
      if (req.url === '/signed-in') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(PAGE.replace('data-api=""', `data-api="${api}"`));
      } else if (req.url === '/hold') {
        // An app URL whose page does nothing: the browser stops there with the code unused.
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<!doctype html><title>held</title>');
      } else {
        res.writeHead(404).end();
      }
    },
  );
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
  pageOrigin = `https://127.0.0.1:${(pages.address() as AddressInfo).port}`;

  const apiPort = await freePort();
  apiOrigin = `https://127.0.0.1:${apiPort}`;
  f = await oidcFixture(
    [],
    {
      appUrls: [`${pageOrigin}/signed-in`, `${pageOrigin}/hold`],
      allowLinkingVerifiedEmail: true,
    },
    {
      tls: { certFile: cert.certFile, keyFile: cert.keyFile },
      cors: { origins: [pageOrigin], credentials: true },
    },
    { publicUrl: apiOrigin },
  );
  await f.app.listen({ host: '127.0.0.1', port: apiPort });
  api = apiOrigin;
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await f?.close();
  pages?.close();
  cert?.cleanup();
});
afterEach(() => {
  f.clock.offsetMs = 0;
});

/** A browser of its own: its own cookies, the test certificate accepted. */
async function newBrowserContext(): Promise<BrowserContext> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  // A step that never happens fails the test with its own message, within the test's timeout.
  context.setDefaultTimeout(10_000);
  return context;
}

const startUrl = (landing = '/signed-in'): string =>
  `${apiOrigin}/api/v1/auth/oidc/test?returnTo=${encodeURIComponent(`${pageOrigin}${landing}`)}`;

/**
 * Opens the start URL and signs in as `sub` on the provider's own login and consent forms.
 * Returns the one-time code the API's callback redirected with (read from its Location header).
 */
async function signInAtProvider(page: Page, sub: string): Promise<string> {
  let handoffLocation: string | undefined;
  page.on('response', (response) => {
    if (response.url().startsWith(`${apiOrigin}${CALLBACK_PATH}`)) {
      handoffLocation = response.headers().location;
    }
  });
  await page.goto(startUrl());
  await page.fill('input[name=login]', sub);
  await page.fill('input[name=password]', 'any');
  await page.click('button[type=submit]');
  // The consent form: one submit button.
  await page.waitForSelector('form button[type=submit]');
  await page.click('button[type=submit]');
  await page.waitForURL(`${pageOrigin}/signed-in**`);
  await expect.poll(() => handoffLocation).toBeDefined();
  const code = new URL(handoffLocation!).hash.match(/^#oidc_code=([A-Za-z0-9_-]{43})$/)?.[1];
  expect(code, handoffLocation).toBeDefined();
  return code!;
}

describe('docs/examples/oidc-signed-in.html in Chromium, with a real provider', () => {
  it('signs a new user in: the code goes to the API only, the cookies stay HttpOnly and are spent', async () => {
    const email = 'browser-new@example.com';
    f.provider.account({ sub: 'browser-new', email, email_verified: true, name: 'Browser New' });
    const context = await newBrowserContext();
    try {
      const page = await context.newPage();
      const code = await signInAtProvider(page, 'browser-new');
      await expect.poll(() => page.textContent('#status')).toBe(`Signed in as ${email}.`);
      // Out of the address bar at once.
      expect(page.url()).toBe(`${pageOrigin}/signed-in`);
      expect(await page.isHidden('#mfa')).toBe(true);
      // The cookies are the API's alone: none is readable by the page's script.
      expect(await page.evaluate('document.cookie')).toBe('');
      // Both cookies are spent: the login cookie at the callback, the hand-off one at the exchange.
      const left = (await context.cookies(apiOrigin)).map((c) => c.name);
      expect(left).not.toContain(LOGIN_COOKIE);
      expect(left).not.toContain(HANDOFF_COOKIE);
      expect(seenByPageServer.join('\n')).not.toContain(code);
      expect(JSON.stringify(f.logs.lines)).not.toContain(code);
      const exchanged = events(f, 'oidc.code_exchanged').at(-1);
      const user = await f.app.services.usersRepo.findByEmail(email);
      expect(exchanged?.actorId).toBe(user?.id);
    } finally {
      await context.close();
    }
  });

  it('asks an account with MFA on for a code, refuses a wrong one, and signs in with the right one', async () => {
    const { user, secret } = await linkedWithMfa(f, 'browser-mfa');
    const context = await newBrowserContext();
    try {
      const page = await context.newPage();
      await signInAtProvider(page, 'browser-mfa');
      await expect
        .poll(() => page.textContent('#status'))
        .toBe('Enter the code from your authenticator app.');
      expect(await page.isVisible('#mfa')).toBe(true);

      await page.fill('#mfa-code', wrongCode(secret, appNow(f)));
      await page.click('#mfa button[type=submit]');
      await expect.poll(() => page.textContent('#status')).toContain('not accepted');
      expect(await page.isVisible('#mfa')).toBe(true);

      await page.fill('#mfa-code', totpCode(secret, appNow(f)));
      await page.click('#mfa button[type=submit]');
      await expect.poll(() => page.textContent('#status')).toBe(`Signed in as ${user.email}.`);
      expect(await page.isHidden('#mfa')).toBe(true);
    } finally {
      await context.close();
    }
  });

  it('refuses the code in another browser, without its hand-off cookie, and burns it', async () => {
    f.provider.account({ sub: 'browser-stolen', email: 'browser-stolen@example.com' });
    const victim = await newBrowserContext();
    const thief = await newBrowserContext();
    try {
      // The victim's browser stops at a page that does not exchange: the code is still unused.
      const page = await victim.newPage();
      await page.goto(startUrl('/hold'));
      await page.fill('input[name=login]', 'browser-stolen');
      await page.fill('input[name=password]', 'any');
      await page.click('button[type=submit]');
      await page.waitForSelector('form button[type=submit]');
      await page.click('button[type=submit]');
      await page.waitForURL(`${pageOrigin}/hold#oidc_code=*`);
      const code = new URL(page.url()).hash.slice('#oidc_code='.length);
      expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const handoffLocation = `${pageOrigin}/signed-in#oidc_code=${code}`;
      // The login cookie is spent at the callback; the hand-off cookie waits in the jar.
      const jar = (await victim.cookies(apiOrigin)).filter((c) => c.name.startsWith('__Host-'));
      expect(jar).toEqual([
        expect.objectContaining({
          name: HANDOFF_COOKIE,
          domain: '127.0.0.1',
          path: '/',
          secure: true,
          httpOnly: true,
          sameSite: 'Lax',
        }),
      ]);

      const stolen = await thief.newPage();
      await stolen.goto(handoffLocation);
      await expect
        .poll(() => stolen.textContent('#status'))
        .toBe('This sign-in has expired or was already used. Start it again.');

      // Refused once, the code is dead for its own browser too.
      const late = await victim.newPage();
      await late.goto(handoffLocation);
      await expect
        .poll(() => late.textContent('#status'))
        .toBe('This sign-in has expired or was already used. Start it again.');
      expect(
        await f.app.services.usersRepo.findByEmail('browser-stolen@example.com'),
      ).toBeDefined();
    } finally {
      await victim.close();
      await thief.close();
    }
  });
});
