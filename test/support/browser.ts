import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium (`apt-get install chromium`; `.ci/run` installs it): never a downloaded browser. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * How the tests run Chromium: headless, no sandbox (CI runs as root), no GPU, and nothing that talks to the
 * network on its own (QUIC, background updates, component updates, sync), so a test sees only its requests.
 */
export const CHROMIUM_FLAGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Where failing browser tests leave their screenshots (gitignored). */
export const SCREENSHOT_DIR = fileURLToPath(new URL('../../test-results/screenshots/', import.meta.url));

export interface TestBrowser {
  context: BrowserContext;
  /** Closes the browser and removes its profile. Idempotent. */
  close: () => Promise<void>;
}

/** Chromium with a fresh profile (`--user-data-dir` in a new temporary directory). */
export async function launchChromium(
  options: { viewport?: { width: number; height: number } } = {},
): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'imagegen-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: [...CHROMIUM_FLAGS],
    headless: true,
    viewport: options.viewport ?? { width: 1100, height: 900 },
  });
  let closing: Promise<void> | undefined;
  return {
    context,
    close: () =>
      (closing ??= (async () => {
        await context.close().catch(() => undefined);
        rmSync(profile, { recursive: true, force: true });
      })()),
  };
}

/** Saves a full-page screenshot of `page` for a failed test; returns its path. */
export async function saveScreenshot(page: Page, testName: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = join(SCREENSHOT_DIR, `${testName.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 80)}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
