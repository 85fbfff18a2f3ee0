import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';

describe('/docs in a real browser', () => {
  let t: TestApp;
  let browser: Browser;
  let base: string;
  beforeAll(async () => {
    t = await buildTestApp();
    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.app.close();
  });

  it('renders the API reference under its CSP with no violations and no outside requests', async () => {
    const page = await browser.newPage();
    const violations: string[] = [];
    const outside: string[] = [];
    page.on('console', (msg) => {
      if (/Content Security Policy|Refused to/i.test(msg.text())) violations.push(msg.text());
    });
    page.on('request', (req) => {
      if (!req.url().startsWith(base) && !req.url().startsWith('data:')) outside.push(req.url());
    });
    await page.goto(`${base}/docs/`, { waitUntil: 'networkidle' });
    await page.waitForSelector('.opblock', { timeout: 10_000 });
    const operations = await page.locator('.opblock-summary-path').allTextContents();
    expect(operations.join(' ')).toContain('/health/live');
    expect(violations).toEqual([]);
    expect(outside).toEqual([]);
    await page.close();
  });
});
