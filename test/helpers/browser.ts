/**
 * A real headless browser for tests: Debian's chromium driven by puppeteer-core
 * (no browser download). Each launch gets a fresh profile folder, removed on
 * close. `bash .ci/run` installs chromium when it is missing; elsewhere run
 * `apt-get install -y --no-install-recommends chromium`, or point TT_CHROMIUM
 * at a Chromium or Chrome binary.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

/** Flags for a quiet, self-contained headless run (no network of its own, no first-run UI, no sandbox as root). */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function findChromium(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = env.TT_CHROMIUM ? [env.TT_CHROMIUM] : CANDIDATES;
  const found = candidates.find((c) => existsSync(c));
  if (found === undefined) {
    throw new Error(
      `headless Chromium not found (looked for ${candidates.join(', ')}): install Debian's with ` +
        '"apt-get install -y --no-install-recommends chromium" (bash .ci/run does), or set TT_CHROMIUM to a Chromium binary',
    );
  }
  return found;
}

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
