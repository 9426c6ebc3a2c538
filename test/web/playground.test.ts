/**
 * The playground in a real browser: Debian's Chromium driven by playwright-core against a whole service
 * (redis-server, the S3 endpoint, the API serving the built page, a worker on the bundled model), one browser
 * and one stack for the file. A failing test leaves a screenshot under test-results/screenshots/ and prints
 * its path. Set IMAGEGEN_PLAYGROUND_SCREENSHOT=file.png to also save the README's screenshot
 * (apps/web/screenshot.png).
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Locator, Page, Request } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { ASPECT_RATIOS } from '@imagegen/engine';

import { until } from '../support/processes.js';
import { launchChromium, saveScreenshot, type TestBrowser } from '../support/browser.js';
import { client, startStack, type TestStack } from '../support/stack.js';

const BUNDLED_MODEL = fileURLToPath(new URL('../../packages/tiny-model/model', import.meta.url));
const RESULT_MS = 60_000;

// Two copies of the bundled model: 12 steps for most tests (well under a second a job here), and 60 for the
// live preview and cancel tests, so previews appear while a job generates and a job is still generating
// when the page cancels it.
const models = mkdtempSync(join(tmpdir(), 'imagegen-web-models-'));
function modelWithSteps(steps: number): string {
  const dir = join(models, `steps-${steps}`);
  cpSync(BUNDLED_MODEL, dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(BUNDLED_MODEL, 'imagegen.json'), 'utf8')) as object;
  writeFileSync(join(dir, 'imagegen.json'), JSON.stringify({ ...manifest, default_steps: steps }));
  return dir;
}
const fastModel = modelWithSteps(12);
const slowModel = modelWithSteps(60);

let stack: TestStack;
let api: ReturnType<typeof client>;
let browser: TestBrowser;
let page: Page;
const requests: string[] = [];
const pageErrors: string[] = [];
const consoleErrors: string[] = [];

const watch = (p: Page) => {
  p.on('request', (r: Request) => requests.push(r.url()));
  p.on('pageerror', (e) => pageErrors.push(String(e)));
  p.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
};

beforeAll(async () => {
  stack = await startStack({ env: { MODEL_DIR: fastModel } });
  api = client(stack);
  browser = await launchChromium();
  page = await browser.context.newPage();
  watch(page);
});
afterAll(async () => {
  await browser.close();
  await stack.stop();
  rmSync(models, { recursive: true, force: true });
});
beforeEach(({ task, onTestFailed }) => {
  onTestFailed(async () => {
    const file = await saveScreenshot(page, task.name).catch((e: unknown) => `not saved: ${String(e)}`);
    process.stderr.write(`[playground test] screenshot of "${task.name}": ${file}\n`);
  });
});

const promptBox = () => page.getByRole('textbox', { name: 'Prompt', exact: true });
const generateButton = () => page.getByRole('button', { name: 'Generate', exact: true });
const resultRegion = () => page.getByRole('region', { name: 'Result' });
const alertText = () => page.getByRole('alert').innerText();

/** Opens the page with the test key through the `#key=` link, as `npm start` prints it. */
async function openWithKey(p: Page = page): Promise<void> {
  await p.goto(`${stack.base}/#key=${stack.key}`);
  await p.getByText('Using key id').waitFor();
}

/** The result figure's job id once a new one (not `previous`) is shown. */
async function resultJob(previous: string | null): Promise<string> {
  const figure = resultRegion().locator(
    previous === null ? 'figure.result' : `figure.result:not([data-job="${previous}"])`,
  );
  await figure.waitFor({ timeout: RESULT_MS });
  return (await figure.getAttribute('data-job'))!;
}

/** Records every value the progress bar takes (attribute changes) into `window.__progress`. */
async function recordProgress(): Promise<void> {
  await page.evaluate(`(() => {
    const bar = document.getElementById('progress');
    window.__progress = [];
    window.__progressObserver?.disconnect();
    window.__progressObserver = new MutationObserver(() => {
      if (bar.hasAttribute('value') && !bar.hidden) window.__progress.push(Number(bar.getAttribute('value')));
    });
    window.__progressObserver.observe(bar, { attributes: true, attributeFilter: ['value'] });
  })()`);
}

let slowWorker: Promise<void> | undefined;
/** Once the queue is empty, replaces the worker with one on the 60-step copy (once per file). */
function useSlowWorker(): Promise<void> {
  slowWorker ??= (async () => {
    await until('the queue to drain', async () => {
      const r = await api('/v1/images/generations?status=queued,processing');
      return (r.json['data'] as unknown[]).length === 0;
    });
    await stack.workers[0]!.close();
    await stack.addWorker({ MODEL_DIR: slowModel });
  })();
  return slowWorker;
}

/** An image's natural size once it has loaded and decoded (fails if it cannot be). */
function naturalSize(img: Locator): Promise<number[]> {
  return img.evaluate(async (el) => {
    const i = el as unknown as { naturalWidth: number; naturalHeight: number; decode: () => Promise<void> };
    await i.decode();
    return [i.naturalWidth, i.naturalHeight];
  });
}

const bytesOf = async (url: string) => Buffer.from(await (await fetch(url)).arrayBuffer());

describe('the playground page', () => {
  it('is served at / with a strict CSP, an uncached index and year-long cached, hashed assets', async () => {
    const res = await fetch(`${stack.base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const csp = res.headers.get('content-security-policy')!;
    const s3Origin = new URL(stack.env['S3_ENDPOINT']!).origin;
    for (const directive of [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      `img-src 'self' data: ${s3Origin}`,
      `connect-src 'self' ${s3Origin}`,
      "frame-ancestors 'none'",
      "require-trusted-types-for 'script'",
    ]) {
      expect(csp).toContain(directive);
    }
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    const html = await res.text();
    const assets = [
      ...html.matchAll(/(?:src|href)="(assets\/app-[A-Z0-9]+\.(?:js|css))" integrity="([^"]+)"/g),
    ];
    expect(assets.map((m) => m[1]!.split('.').pop())).toEqual(['css', 'js']);
    for (const [, path, integrity] of assets) {
      const asset = await fetch(`${stack.base}/${path!}`);
      expect(asset.status).toBe(200);
      expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      const body = Buffer.from(await asset.arrayBuffer());
      expect(integrity).toBe(`sha384-${createHash('sha384').update(body).digest('base64')}`);
    }
    expect(html).not.toMatch(/<script>|<style|\sstyle=|\son[a-z]+=/); // nothing inline
    expect((await fetch(`${stack.base}/assets/app-NOPE.js`)).status).toBe(404);
    expect((await fetch(`${stack.base}/`, { method: 'POST' })).status).toBe(405);
  });

  it('takes the key from a #key= link into sessionStorage and out of the address bar', async () => {
    await openWithKey();
    expect(page.url()).toBe(`${stack.base}/`);
    expect(await page.evaluate<string | null>(`sessionStorage.getItem('imagegen.apiKey')`)).toBe(stack.key);
    expect(await page.getByLabel('API key', { exact: true }).inputValue()).toBe(stack.key);
    // The key outlives a reload of the tab, never the tab: it is not in localStorage or a cookie.
    await page.reload();
    await page.getByText('Using key id').waitFor();
    expect(await page.evaluate<number>('localStorage.length')).toBe(0);
    expect(await browser.context.cookies()).toEqual([]);
  });

  it('shows lint warnings and the moderation verdict while the prompt is typed', async () => {
    const text = 'a nice image of a golden retriever puppy, no text';
    await promptBox().pressSequentially(text, { delay: 15 });
    const warnings = page.getByRole('list', { name: 'Prompt warnings' });
    await warnings.locator('li[data-code="outside_model_domain"]').waitFor();
    expect(await warnings.innerText()).toContain('Outside what the model can draw');
    await warnings.locator('li[data-code="negative_instruction"]').waitFor();
    const analyzed = requests.filter((u) => u.endsWith('/v1/prompts/analyze')).length;
    expect(analyzed).toBeGreaterThan(0);
    expect(analyzed).toBeLessThan(text.length / 2); // debounced, not one request per keystroke

    await promptBox().fill('a decapitated body, gore everywhere');
    const verdict = page.locator('#analysis .verdict.refused');
    await verdict.waitFor();
    expect(await verdict.innerText()).toContain('violence and gore ("violence")');
  });

  it('generates each aspect ratio at its exact natural size, the progress bar moving to the end', async () => {
    let previous: string | null = null;
    for (const [i, [ratio, size]] of Object.entries(ASPECT_RATIOS).entries()) {
      const prompt = `a red circle and a blue square, ${ratio.replace(':', ' by ')}`;
      await promptBox().fill(prompt);
      await page.getByLabel('Aspect ratio').selectOption(ratio);
      await recordProgress();
      // The first one from the keyboard (Ctrl+Enter), the rest with the button.
      if (i === 0) await promptBox().press('Control+Enter');
      else await generateButton().click();
      previous = await resultJob(previous);
      const img = resultRegion().getByRole('img', { name: prompt, exact: true });
      const natural = await naturalSize(img);
      expect(natural, ratio).toEqual([size.width, size.height]);
      expect(await resultRegion().innerText()).toContain(`${size.width} × ${size.height} px`);
      const seen = await page.evaluate<number[]>('window.__progress');
      expect(
        seen.some((v) => v > 0 && v < 1),
        `progress values ${seen.join(',')}`,
      ).toBe(true);
      expect(seen.at(-1)).toBe(1);
      expect([...seen].sort((a, b) => a - b)).toEqual(seen); // it only moves forward
    }
  });

  it('reuses a seed: the same prompt and seed give the same image bytes', async () => {
    await page.getByLabel('Aspect ratio').selectOption('1:1');
    await page.getByRole('radio', { name: 'Random' }).check();
    const prompt = 'three small green stars';
    await promptBox().fill(prompt);
    const before = await page
      .locator('figure.result')
      .getAttribute('data-job', { timeout: 1000 })
      .catch(() => null);
    await generateButton().click();
    const first = await resultJob(before);
    const seed = await resultRegion().locator('.seed-value').innerText();
    const firstUrl = (await resultRegion().getByRole('img', { name: prompt }).getAttribute('src'))!;

    await page.getByRole('button', { name: 'Reuse seed' }).click();
    expect(await page.getByRole('radio', { name: 'Lock' }).isChecked()).toBe(true);
    expect(await page.getByLabel('Seed value').inputValue()).toBe(seed);
    await generateButton().click();
    const second = await resultJob(first);
    expect(second).not.toBe(first);
    expect(await resultRegion().locator('.seed-value').innerText()).toBe(seed);
    const secondUrl = (await resultRegion().getByRole('img', { name: prompt }).getAttribute('src'))!;
    expect(secondUrl).not.toBe(firstUrl);
    expect((await bytesOf(secondUrl)).equals(await bytesOf(firstUrl))).toBe(true);
    const job = await api(`/v1/images/generations/${second}`);
    expect(job.json).toMatchObject({ seed: Number(seed), cached: false });
    // The same request once more is answered from the second's result, and the page says so.
    await generateButton().click();
    const third = await resultJob(second);
    expect((await api(`/v1/images/generations/${third}`)).json).toMatchObject({ cached: true });
    await resultRegion()
      .getByText(/^reused: a copy of an identical earlier request/)
      .waitFor();
    const thirdUrl = (await resultRegion().getByRole('img', { name: prompt }).getAttribute('src'))!;
    expect((await bytesOf(thirdUrl)).equals(await bytesOf(firstUrl))).toBe(true);
    const readme = process.env['IMAGEGEN_PLAYGROUND_SCREENSHOT'];
    if (readme) {
      await page.locator('#history-list .thumb img').first().waitFor();
      // A palette PNG: the README's screenshot stays small.
      await sharp(await page.screenshot())
        .png({ palette: true, compressionLevel: 9 })
        .toFile(readme);
    }
  });

  it('downloads the shown image as a file with the same bytes', async () => {
    const figure = resultRegion().locator('figure.result');
    const id = (await figure.getAttribute('data-job'))!;
    const src = (await figure.getByRole('img').getAttribute('src'))!;
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      figure.getByRole('button', { name: 'Download' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(`${id}.jpg`);
    expect(readFileSync(await download.path()).equals(await bytesOf(src))).toBe(true);
  });

  it('shows the policy category when a prompt is refused', async () => {
    await promptBox().fill('a decapitated body, gore everywhere');
    await generateButton().click();
    await page.getByRole('alert').getByText('Prompt refused', { exact: true }).waitFor();
    const text = await alertText();
    expect(text).toContain('violence and gore ("violence")');
    expect(text).toContain('safety tolerance 2');
    expect(await resultRegion().locator('figure.result').count()).toBe(0);
  });

  it('says when to try again after a 429, and what failed when a job fails (injected answers)', async () => {
    await promptBox().fill('a yellow triangle');
    await page.route(`${stack.base}/v1/images/generations`, (route) =>
      route.request().method() === 'POST'
        ? route.fulfill({
            status: 429,
            headers: { 'content-type': 'application/json', 'retry-after': '42' },
            body: JSON.stringify({
              success: false,
              error: {
                code: 'rate_limited',
                message: 'this API key is limited to 60 requests per minute here',
              },
              request_id: 'req_test',
            }),
          })
        : route.continue(),
    );
    try {
      await generateButton().click();
      await page.getByRole('alert').getByText('Rate limited', { exact: true }).waitFor();
      expect(await alertText()).toMatch(/limited to 60 requests per minute[\s\S]*Try again in (42|41|40) s/);
    } finally {
      await page.unroute(`${stack.base}/v1/images/generations`);
    }

    // A job that fails: the real submit, then an event stream whose terminal event is a failed job.
    const events = (url: URL) => url.pathname.endsWith('/events'); // with ?previews=1
    await page.route(events, async (route) => {
      const id = new URL(route.request().url()).pathname.split('/')[4]!;
      const real = (await api(`/v1/images/generations/${id}?wait=30`)).json;
      const failed = {
        ...real,
        status: 'failed',
        output: null,
        image_url: null,
        success: false,
        error: { code: 'timeout', message: 'the generation ran past JOB_TIMEOUT_MS', retryable: true },
      };
      await route.fulfill({
        status: 200,
        headers: { 'content-type': 'text/event-stream' },
        body: `id: 1-0\nevent: completed\ndata: ${JSON.stringify(failed)}\n\n`,
      });
    });
    try {
      await generateButton().click();
      await page.getByRole('alert').getByText('Generation failed', { exact: true }).waitFor();
      expect(await alertText()).toContain(
        'the generation ran past JOB_TIMEOUT_MS (timeout). Trying again may work.',
      );
    } finally {
      await page.unroute(events);
    }
  });

  it('is usable 360 px wide: no sideways scrolling', async () => {
    await page.setViewportSize({ width: 360, height: 740 });
    try {
      await page.reload();
      await page.getByText('Using key id').waitFor();
      expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(360);
      for (const name of ['Generate']) {
        const box = (await page.getByRole('button', { name, exact: true }).boundingBox())!;
        expect(box.x + box.width).toBeLessThanOrEqual(360);
      }
    } finally {
      await page.setViewportSize({ width: 1100, height: 900 });
    }
  });

  it("lists the key's jobs newest first, a page at a time, with thumbnails while their links live", async () => {
    // Enough jobs for two pages even when this test runs alone.
    const have = ((await api('/v1/images/generations?limit=100')).json['data'] as unknown[]).length;
    for (let i = have; i < 8; i++) {
      await api('/v1/images/generations', { body: { prompt: `a small ring ${i}`, aspect_ratio: '1:1' } });
    }
    const all = (
      (await api('/v1/images/generations?limit=100')).json['data'] as { id: string; status: string }[]
    ).map((j) => j.id);
    await page.reload();
    const ids = () =>
      page
        .locator('#history-list > li')
        .evaluateAll((lis) => lis.map((li) => (li as unknown as { dataset: { id: string } }).dataset.id));
    await page.locator('#history-list > li').first().waitFor();
    const first = await ids();
    expect(first).toEqual(all.slice(0, 6));
    expect(
      await page.locator('#history-list > li[data-status="succeeded"] .thumb img').count(),
    ).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Older' }).click();
    await page.getByText('Page 2').waitFor();
    expect(await ids()).toEqual(all.slice(6, 12));
    await page.getByRole('button', { name: 'Newer' }).click();
    await page.getByText('Page 1').waitFor();
    expect(await ids()).toEqual(first);
  });

  it('shows at least one live preview before the result', async () => {
    await useSlowWorker();
    await page.evaluate(`(() => {
      window.__seen = [];
      window.__seenObserver?.disconnect();
      const img = document.getElementById('preview-img');
      const note = (what) => { if (!window.__seen.includes(what)) window.__seen.push(what); };
      window.__seenObserver = new MutationObserver(() => {
        if ((img.getAttribute('src') ?? '').startsWith('data:image/jpeg;base64,')) note('preview');
        if (document.querySelector('#result figure.result')) note('result');
      });
      window.__seenObserver.observe(document.querySelector('main'), {
        subtree: true, childList: true, attributes: true, attributeFilter: ['src'],
      });
    })()`);
    await page.getByLabel('Aspect ratio').selectOption('1:1');
    await promptBox().fill('an orange ring and a white star');
    const before = await page
      .locator('figure.result')
      .getAttribute('data-job', { timeout: 1000 })
      .catch(() => null);
    await generateButton().click();
    await resultJob(before);
    expect(await page.evaluate<string[]>('window.__seen')).toEqual(['preview', 'result']);
    const size = await naturalSize(page.locator('#preview-img'));
    expect(Math.min(...size)).toBeGreaterThan(0);
    expect(Math.max(...size)).toBeLessThanOrEqual(256);
  });

  it('cancels a running job', async () => {
    await useSlowWorker();
    await promptBox().fill('a purple diamond');
    await generateButton().click();
    await page
      .getByRole('status')
      .getByText(/Generating: step/)
      .waitFor({ timeout: RESULT_MS });
    expect(await page.getByRole('progressbar', { name: 'Generation progress' }).isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('alert').getByText('Canceled', { exact: true }).waitFor({ timeout: RESULT_MS });
    expect(await resultRegion().locator('figure.result').count()).toBe(0);
    const latest = (await api('/v1/images/generations?limit=1')).json['data'] as { status: string }[];
    expect(latest[0]!.status).toBe('canceled');
  });

  it('marks thumbnails and the result link "expired" once their hour is up', async () => {
    // The clock is the browser context's: this test runs last among those using the page.
    const tab = await browser.context.newPage();
    watch(tab);
    try {
      await tab.clock.install();
      await openWithKey(tab);
      await tab.locator('#history-list .thumb img').first().waitFor();
      expect(await tab.locator('#history-list .badge', { hasText: 'expired' }).count()).toBe(0);
      await tab.clock.fastForward('01:00:30');
      await tab.waitForFunction(`!document.querySelector('#history-list .thumb img')`);
      expect(await tab.locator('#history-list .badge', { hasText: 'expired' }).count()).toBeGreaterThan(0);
    } finally {
      await tab.close();
    }
  });

  it('loaded nothing from any origin but the service and its image store, and broke no policy', () => {
    const allowed = new Set([new URL(stack.base).origin, new URL(stack.env['S3_ENDPOINT']!).origin]);
    const foreign = requests.filter((u) => !u.startsWith('data:') && !allowed.has(new URL(u).origin));
    expect(foreign).toEqual([]);
    expect(requests.some((u) => u.startsWith(new URL(stack.env['S3_ENDPOINT']!).origin))).toBe(true);
    expect(consoleErrors.filter((m) => /Content.Security.Policy|Trusted Type/i.test(m))).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
