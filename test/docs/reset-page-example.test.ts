/*
 * docs/examples/reset-password.html, the front-end page of the reset link, driven in Chromium:
 * a real e-mailed link (SMTP on loopback) opened in the browser, the page on its own origin
 * calling the API across origins. The token must reach the API in a request body only: never
 * the page's server (no fragment is sent, no Referer carries it), never the address bar after
 * the page has loaded.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { launchChromium } from '../helpers/browser.js';
import { registerAndLogin } from '../helpers/identity.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';

const PAGE = readFileSync(
  new URL('../../docs/examples/reset-password.html', import.meta.url),
  'utf8',
);
const NEW_PASSWORD = 'velvet orbit lantern mosaic 93';

let smtp: TestSmtpServer;
let t: TestApp;
let pages: Server;
let pageOrigin: string;
let browser: Browser;
/** What the page's server was asked: each request's URL and Referer. */
const seenByPageServer: string[] = [];

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    });
  });
}

beforeAll(async () => {
  smtp = await startSmtpServer();
  let api = '';
  pages = createServer((req: IncomingMessage, res) => {
    seenByPageServer.push(`${req.url ?? ''} ${req.headers.referer ?? ''}`);
    if (req.url === '/reset-password') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE.replace('data-api=""', `data-api="${api}"`));
    } else {
      res.writeHead(404).end();
    }
  });
  pageOrigin = await listen(pages);
  t = await buildTestApp({
    cors: { origins: [pageOrigin] },
    email: { smtpUrl: smtp.url(), passwordResetUrl: `${pageOrigin}/reset-password` },
  });
  api = await t.app.listen({ host: '127.0.0.1', port: 0 });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await t?.app.close();
  pages?.close();
  await smtp?.stop();
});

async function mailedLink(email: string): Promise<string> {
  const forgot = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/password/forgot',
    payload: { email },
  });
  expect(forgot.statusCode).toBe(202);
  const mail = await smtp.waitForMessage((m) => m.to.includes(email), 5_000);
  const link = /^http:\/\/\S+#token=[A-Za-z0-9_-]{43}$/m.exec(mail.text)?.[0];
  expect(link, mail.text).toBeDefined();
  return link!;
}

describe('docs/examples/reset-password.html in Chromium', () => {
  it('sets the new password from the e-mailed link, without the token leaving the browser but to the API', async () => {
    const user = await registerAndLogin(t.app);
    const link = await mailedLink(user.email);
    const token = link.split('#token=')[1]!;
    const page = await browser.newPage();
    try {
      await page.goto(link);
      // Out of the address bar and the history at once.
      await expect.poll(() => page.url()).toBe(`${pageOrigin}/reset-password`);

      // A weak password: the API's reasons, shown as text; the link still works afterwards.
      await page.fill('#password', 'password1234');
      await page.click('button[type=submit]');
      await expect.poll(() => page.textContent('#status')).toMatch(/password/i);
      expect(await page.locator('#reasons li').count()).toBeGreaterThan(0);

      await page.fill('#password', NEW_PASSWORD);
      await page.click('button[type=submit]');
      await expect.poll(() => page.textContent('#status')).toContain('Your password was changed');
      expect(await page.isHidden('#reset')).toBe(true);
    } finally {
      await page.close();
    }

    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: NEW_PASSWORD },
    });
    expect(login.statusCode, login.body).toBe(200);
    expect(seenByPageServer.join('\n')).not.toContain(token);
    expect(JSON.stringify(t.logs.lines)).not.toContain(token);
  });

  it('says so when the link was already used, and hides the form', async () => {
    const user = await registerAndLogin(t.app);
    const link = await mailedLink(user.email);
    const reset = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password/reset',
      payload: { token: link.split('#token=')[1], newPassword: NEW_PASSWORD },
    });
    expect(reset.statusCode).toBe(204);
    const page = await browser.newPage();
    try {
      await page.goto(link);
      await page.fill('#password', 'another fine passphrase 77');
      await page.click('button[type=submit]');
      await expect
        .poll(() => page.textContent('#status'))
        .toContain('invalid, expired or already used');
      expect(await page.isHidden('#reset')).toBe(true);
    } finally {
      await page.close();
    }
  });

  it('shows no form for a link without a well-formed token', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${pageOrigin}/reset-password#token=<img src=x onerror=alert(1)>`);
      await expect.poll(() => page.textContent('#status')).toContain('This link is incomplete');
      expect(await page.isHidden('#reset')).toBe(true);
    } finally {
      await page.close();
    }
  });
});
