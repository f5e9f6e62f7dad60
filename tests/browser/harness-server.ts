// Serves a test harness page: built with the app's Vite config into a temporary folder, extra files copied
// beside it, previewed, and opened in headless chromium once the page says it is ready.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { build, preview } from 'vite';
import { ROOT } from '../../tools/serve.ts';
import { launchChromium, type Browser } from './chromium.ts';

export interface Harness {
  browser: Browser;
  page: Page;
  /** Base URL of the served build. */
  url: string;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Names the temporary build folder. */
  name: string;
  /** Pages to build, relative to the repo root; the last is opened. */
  pages: string[];
  /** false: public/ is not copied into the build. */
  publicDir?: false;
  /** Copies what the tests need into the build folder before it is served. */
  addFiles?: (outDir: string) => void;
  port: number;
  timeoutMs: number;
}

export async function openHarnessPage(opts: HarnessOptions): Promise<Harness> {
  const outDir = await mkdtemp(join(tmpdir(), `latent-lab-${opts.name}-`));
  await build({
    root: ROOT,
    logLevel: 'warn',
    ...(opts.publicDir === false ? { publicDir: false as const } : {}),
    build: { outDir, emptyOutDir: true, sourcemap: false, rolldownOptions: { input: opts.pages.map((p) => resolve(ROOT, p)) } },
  });
  opts.addFiles?.(outDir);
  const server = await preview({ root: ROOT, logLevel: 'warn', build: { outDir }, preview: { host: '127.0.0.1', port: opts.port, strictPort: false, open: false } });
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error('the preview server did not report its address');
  const browser = await launchChromium();
  const page = browser.page;
  page.setDefaultTimeout(opts.timeoutMs);
  page.on('console', (m) => m.type() === 'error' && console.log(`[page] ${m.text()}`));
  page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
  await page.goto(`${url}${opts.pages.at(-1)}`);
  await page.waitForFunction(() => (window as unknown as { harnessReady?: boolean }).harnessReady === true);
  return {
    browser,
    page,
    url,
    async close() {
      await browser.close();
      await server.close();
      await rm(outDir, { recursive: true, force: true });
    },
  };
}
