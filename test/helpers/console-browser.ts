/**
 * One operator's headless browser for the console test (Debian's chromium via
 * puppeteer-core, found and flagged as in browser.ts): tabs, page errors and
 * the text of elements. A fresh profile folder per launch, removed on close.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { CHROMIUM_FLAGS, findChromium } from './browser';

export interface TestBrowser {
  browser: Browser;
  /** A new tab; dialogs (confirm()) are accepted, page errors are collected in `errors`. */
  page(): Promise<Page>;
  /** JavaScript errors the pages threw (a test should expect none). */
  readonly errors: string[];
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'tt-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: findChromium(),
    headless: true,
    args: [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`],
  });
  const errors: string[] = [];
  return {
    browser,
    errors,
    async page() {
      const page = await browser.newPage();
      page.on('dialog', (dialog) => void dialog.accept());
      page.on('pageerror', (err) => errors.push(String(err)));
      return page;
    },
    async close() {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** The text of the first element matching `selector` ('' when none). */
export async function textOf(page: Page, selector: string): Promise<string> {
  const element = await page.$(selector);
  if (element === null) return '';
  return String(await element.evaluate((e) => (e as unknown as { textContent: string | null }).textContent ?? ''));
}

/** The texts of every element matching `selector`. */
export function textsOf(page: Page, selector: string): Promise<string[]> {
  return page.$$eval(selector, (list) => list.map((e) => (e as unknown as { textContent: string | null }).textContent ?? ''));
}
