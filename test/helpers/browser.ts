/**
 * A real headless Chromium (Debian's `chromium` package) driven by
 * puppeteer-core, for the web chat's end-to-end tests. Each browser gets a
 * fresh profile directory and no network beyond what the page asks for (the
 * flags below switch off Chromium's own background traffic). Uncaught page
 * errors are collected, so a test can check the page never failed.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import puppeteer, { type Browser, type BrowserContext, type Page } from 'puppeteer-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

/** Flags for a quiet, self-contained headless run (no network of its own, no first-run UI, no sandbox as root). */
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** TT_CHROMIUM, else the usual install paths; a clear error naming the fix when there is none. */
export function findChromium(): string {
  const fromEnv = process.env.TT_CHROMIUM;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`TT_CHROMIUM=${fromEnv}: no such file`);
    return fromEnv;
  }
  const found = CANDIDATES.find((path) => existsSync(path));
  if (found === undefined) {
    throw new Error(
      'the web chat tests need Chromium and none was found: install it with "apt-get install -y --no-install-recommends chromium" ' +
        '(.ci/run does this), or set TT_CHROMIUM to a Chrome or Chromium binary',
    );
  }
  return found;
}

export interface TestBrowser {
  browser: Browser;
  /** A new page in its own browser context (own cookies and storage: another person). */
  newPerson(viewport?: { width: number; height: number }): Promise<Page>;
  /** Uncaught exceptions in any page so far (a failing page script), with the page they came from. */
  pageErrors: string[];
  /** console.error lines (Chromium also logs refused connections here, which some tests cause on purpose). */
  consoleErrors: string[];
}

export async function launchBrowser(t: Test): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'tt-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: findChromium(),
    headless: true,
    userDataDir: profile,
    args: [
      ...CHROMIUM_FLAGS,
      '--disable-default-apps',
      '--disable-extensions',
      // Several people in one browser: none of their pages counts as a background tab.
      '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows',
    ],
  });
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];
  t.teardown(async () => {
    await browser.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  });
  return {
    browser,
    pageErrors,
    consoleErrors,
    async newPerson(viewport = { width: 1100, height: 800 }) {
      const context = await browser.createBrowserContext();
      contexts.push(context);
      const page = await context.newPage();
      await page.setViewport(viewport);
      const name = `page ${contexts.length}`;
      page.on('pageerror', (err) => pageErrors.push(`${name}: ${(err as Error).message}`));
      page.on('console', (message) => {
        if (message.type() === 'error') consoleErrors.push(`${name}: ${message.text()}`);
      });
      return page;
    },
  };
}

/**
 * Clicks `selector` once it is present, visible and still. Pages re-render
 * their lists and tables as data arrives, so an element found a moment ago can
 * be replaced before the click lands; puppeteer's locator finds it again
 * instead of failing with "Node is detached from document".
 */
export async function clickWhenReady(page: Page, selector: string, timeoutMs = 10_000): Promise<void> {
  await page.locator(selector).setTimeout(timeoutMs).click();
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
