// Checkpoints in a real browser (headless chromium, IndexedDB, WebGPU on SwiftShader):
// - a page closed while a save is in flight: the earlier checkpoint stays whole and restorable, the
//   partial one is never listed and its parts are collected when the store is opened again;
// - IndexedDB refusing writes (QuotaExceededError): a clear message, earlier checkpoints intact;
// - the engine worker: a run saved, the page reloaded, the run restored and continued gives the losses of
//   the run that never stopped, bit for bit.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { build, preview } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../tools/serve.ts';
import type { CheckpointInfo, LabEngine, LossPoint, RunState, TrainSettings } from '../../src/worker/api.ts';
import { launchChromium, type Browser } from './chromium.ts';

interface Harness {
  lab: LabEngine;
  ckpt: {
    progress: { batches: number; id: string };
    open(): Promise<number>;
    save(step: number, floats: number, slowMs?: number): Promise<string>;
    list(): Promise<{ id: string; step: number }[]>;
    check(id: string, floats: number): Promise<boolean>;
    raw(): Promise<{ parts: string[]; manifests: string[] }>;
    failWritesAfter(okPuts: number): void;
  };
  waitFor(states: RunState[]): Promise<RunState>;
  harnessReady: boolean;
}
declare const window: Window & Harness;

const FLOATS = 100_000; // 3 tensors of 400 kB: about 20 parts of 64 kB, one per transaction
const TINY: TrainSettings = { preset: 'unet-tiny', resolution: 32, frames: 1 };
const MiB = 1024 * 1024;

describe('checkpoints in chromium', { timeout: 900_000 }, () => {
  let browser: Browser;
  let url = '';
  let outDir = '';
  let server: Awaited<ReturnType<typeof preview>>;

  async function openPage(): Promise<Page> {
    const page = await browser.context.newPage();
    page.setDefaultTimeout(600_000);
    page.on('console', (m) => m.type() === 'error' && console.log(`[page] ${m.text()}`));
    page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
    await page.goto(`${url}tests/browser/checkpoint-harness.html`);
    await page.waitForFunction(() => window.harnessReady === true);
    return page;
  }

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'latent-lab-ckpt-'));
    await build({
      root: ROOT,
      logLevel: 'warn',
      publicDir: false,
      build: { outDir, emptyOutDir: true, sourcemap: false, rolldownOptions: { input: resolve(ROOT, 'tests/browser/checkpoint-harness.html') } },
    });
    server = await preview({ root: ROOT, logLevel: 'warn', build: { outDir }, preview: { host: '127.0.0.1', port: 4373, strictPort: false, open: false } });
    url = server.resolvedUrls?.local[0] ?? '';
    if (!url) throw new Error('the preview server did not report its address');
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  let first = '';

  it('a page closed in the middle of a save leaves the earlier checkpoint whole and the partial one ignored, then collected', async () => {
    const page = await openPage();
    expect(await page.evaluate(() => window.ckpt.open())).toBe(0);
    first = await page.evaluate((n) => window.ckpt.save(1, n), FLOATS);
    // The second save waits 300 ms after each batch: close the page once a few batches are down.
    void page.evaluate((n) => window.ckpt.save(2, n, 300), FLOATS).catch(() => undefined);
    await page.waitForFunction((id) => window.ckpt.progress.id !== id && window.ckpt.progress.batches >= 3, first);
    const partial = await page.evaluate(() => window.ckpt.progress.id);
    await page.close();

    const again = await openPage();
    // Before the store opens (and collects): the partial save's parts are there, its manifest is not.
    const raw = await again.evaluate(() => window.ckpt.raw());
    expect(raw.manifests).toEqual([first]);
    expect(raw.parts.sort()).toEqual([first, partial].sort());
    expect(await again.evaluate(() => window.ckpt.open())).toBe(1);
    expect(await again.evaluate(() => window.ckpt.list())).toEqual([{ id: first, step: 1 }]);
    expect(await again.evaluate(() => window.ckpt.raw())).toEqual({ parts: [first], manifests: [first] });
    expect(await again.evaluate(([id, n]) => window.ckpt.check(id, n), [first, FLOATS] as const)).toBe(true);
    await again.close();
  });

  it('IndexedDB refusing writes (QuotaExceededError) gives a clear message and leaves earlier checkpoints intact', async () => {
    const page = await openPage();
    await page.evaluate(() => window.ckpt.open());
    await page.evaluate(() => window.ckpt.failWritesAfter(4));
    const outcome = await page.evaluate((n) => window.ckpt.save(3, n).then((id) => `saved ${id}`, (e: Error) => `${e.name}: ${e.message}`), FLOATS);
    expect(outcome).toMatch(/^CheckpointQuotaError: Not enough storage to save the checkpoint at step 3: it needs 1\.1 MiB \(.* of .* in use\)\. Earlier checkpoints are intact/);
    expect(await page.evaluate(() => window.ckpt.list())).toEqual([{ id: first, step: 1 }]);
    expect(await page.evaluate(() => window.ckpt.raw())).toEqual({ parts: [first], manifests: [first] });
    expect(await page.evaluate(([id, n]) => window.ckpt.check(id, n), [first, FLOATS] as const)).toBe(true);
    await page.close();
  });

  it('the engine worker: save, reload the page, restore, continue: the losses of the run that never stopped', async () => {
    const page = await openPage();
    const t0 = performance.now();
    const straight = await page.evaluate(
      async ({ tiny, budget }) => {
        await window.lab.init({ budgetBytes: budget });
        // Autosave at step 2 of a run that goes on to step 4 without stopping.
        await window.lab.checkpoints.setAutosave({ everySteps: 2, everyMinutes: null, keepLast: 3 });
        await window.lab.training.start({ steps: 4, settings: tiny });
        if ((await window.waitFor(['done', 'failed'])) !== 'done') throw new Error(JSON.stringify((await window.lab.training.status()).failure));
        return (await window.lab.training.history()).loss.map((p: LossPoint) => p.loss);
      },
      { tiny: TINY, budget: 256 * MiB },
    );
    expect(straight).toHaveLength(4);
    const tStraight = performance.now();
    // Saves are written in the background: wait until the step-2 one is listed.
    let saved: CheckpointInfo | undefined;
    for (let i = 0; i < 300 && !saved; i++) {
      const list = await page.evaluate(() => window.lab.checkpoints.list());
      saved = list.find((c) => c.step === 2 && c.preset === 'unet-tiny' && c.lossCount === 2);
      if (!saved) await page.waitForTimeout(100);
    }
    expect(saved).toBeDefined();

    await page.reload();
    await page.waitForFunction(() => window.harnessReady === true);
    const resumed = await page.evaluate(
      async ({ id, budget }) => {
        await window.lab.init({ budgetBytes: budget });
        const started = await window.lab.checkpoints.restore(id, { steps: 4 });
        if ((await window.waitFor(['done', 'failed'])) !== 'done') throw new Error(JSON.stringify((await window.lab.training.status()).failure));
        const history = await window.lab.checkpoints.lossHistory(id);
        return { from: started.step, steps: (await window.lab.training.history()).loss.map((p: LossPoint) => [p.step, p.loss]), history };
      },
      { id: saved!.id, budget: 256 * MiB },
    );
    expect(resumed.from).toBe(2);
    expect(resumed.steps.map(([s]) => s)).toEqual([3, 4]);
    expect([...resumed.history.map((p) => p.loss), ...resumed.steps.map(([, l]) => l)]).toEqual(straight);
    console.log(`browser resume: straight run ${((tStraight - t0) / 1000).toFixed(1)} s, reload + resume ${((performance.now() - tStraight) / 1000).toFixed(1)} s`);
    await page.close();
  });
});
