import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, type Browser } from './chromium.ts';

const SHOTS = fileURLToPath(new URL('../../test-results/browser', import.meta.url));
mkdirSync(SHOTS, { recursive: true });

// SwiftShader compiles every kernel on the first step (about a minute and a half on two busy cores);
// later steps of unet-tiny at 16 px with one frame take about two seconds.
const FIRST_STEP_MS = 420_000;

/** Text of the element with this data-testid (shadow roots are pierced), whitespace collapsed. */
async function text(page: Page, testId: string): Promise<string> {
  const t = await page.getByTestId(testId).first().textContent();
  return (t ?? '').replace(/\s+/g, ' ').trim();
}

const attr = async (page: Page, testId: string, name: string) => (await page.getByTestId(testId).first().getAttribute(name)) ?? '';
const num = async (page: Page, testId: string, name = 'data-value') => Number(await attr(page, testId, name));

/** Waits until the run panel shows at least `step` applied steps. */
async function untilStep(page: Page, step: number, timeout = 120_000) {
  await page.waitForFunction(
    (n) => {
      const find = (root: Document | ShadowRoot): Element | null => {
        const hit = root.querySelector('[data-testid=run-step]');
        if (hit) return hit;
        for (const el of root.querySelectorAll('*')) if (el.shadowRoot) {
          const inner = find(el.shadowRoot);
          if (inner) return inner;
        }
        return null;
      };
      return Number(find(document)?.getAttribute('data-value')) >= n;
    },
    step,
    { timeout, polling: 250 },
  );
}

/** The focused element inside shadow roots, as its data-testid or tag. */
function deepFocus(page: Page): Promise<string> {
  return page.evaluate(() => {
    let a = document.activeElement;
    while (a?.shadowRoot?.activeElement) a = a.shadowRoot.activeElement;
    return a?.getAttribute('data-testid') ?? a?.tagName.toLowerCase() ?? '';
  });
}

describe('training the tiny preset in headless chromium on SwiftShader', { timeout: 600_000 }, () => {
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const consoleLines: string[] = [];
  let planned = 0;

  beforeAll(async () => {
    browser = await launchChromium();
    page = browser.page;
    page.setDefaultTimeout(60_000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    await page.goto(inject('appUrl'));
    await page.getByText('Engine ready').waitFor();
  });

  afterAll(async () => {
    if (pageErrors.length || consoleLines.some((l) => l.startsWith('error'))) console.log(consoleLines.join('\n'));
    await browser?.close();
  });

  it('plans the tiny preset as the settings change', async () => {
    await page.selectOption('#ts-preset', 'unet-tiny');
    await page.selectOption('#ts-resolution', '16');
    await page.fill('#ts-frames', '1');
    const verdict = page.locator('[data-testid=verdict][data-fits=true][aria-busy=false]');
    await expect.poll(() => text(page, 'verdict-knobs'), { timeout: 60_000 }).toMatch(/^unet-tiny, 16 px, 1 frame · batch 1 · checkpointing off · f32/);
    await verdict.waitFor();
    planned = Number(await verdict.getAttribute('data-peak'));
    expect(planned).toBeGreaterThan(8 * 1024 ** 2);
    expect(await text(page, 'verdict')).toMatch(/^Fits\. Peak \d+\.\d MiB of the 4\.00 GiB available \(0\.\d+%\)\.$/);
    // The optimizer's AdamW state is twice the weights; gradients are as large as the weights.
    const row = async (c: string) => ((await page.locator(`[data-testid=verdict-categories] tr[data-category=${c}]`).textContent()) ?? '').replace(/\s+/g, ' ').trim();
    const weights = await row('weights');
    expect(weights).toMatch(/^weights \d+\.\d MiB$/);
    expect((await row('grads')).replace('grads', 'weights')).toBe(weights);
    expect(await row('activations')).toMatch(/^activations \d/);
    // Before a run, the training memory panel shows the planned peak of the settings.
    expect(await num(page, 'planned-peak', 'data-bytes')).toBe(planned);
    expect(await attr(page, 'run-primary', 'aria-disabled')).toBe('false');
    await page.screenshot({ path: join(SHOTS, 'train-verdict.png'), fullPage: true });
  });

  it('says what to change when the budget is too small, and refuses to start', async () => {
    await page.fill('#ts-budget', '0.01');
    await page.press('#ts-budget', 'Enter');
    await page.locator('[data-testid=verdict][data-fits=false]').waitFor();
    await expect.poll(() => text(page, 'advice'), { timeout: 60_000 }).toMatch(/^Nothing fits \d+\.\d MiB: the closest is .* Raise the budget to at least \d+\.\d MiB/);
    expect(await attr(page, 'run-primary', 'aria-disabled')).toBe('true');
    await page.fill('#ts-budget', '4');
    await page.press('#ts-budget', 'Enter');
    await page.locator('[data-testid=verdict][data-fits=true][aria-busy=false]').waitFor();
    expect(await text(page, 'budget')).toBe('4.00 GiB');
  });

  it('trains: step, loss, speed and memory update as steps land', async () => {
    await page.fill('#run-steps', '100');
    await page.getByTestId('run-primary').click();
    await page.locator('[data-testid=run-state][data-state=running]').waitFor();
    await untilStep(page, 2, FIRST_STEP_MS);

    expect(await text(page, 'run-step')).toMatch(/^[2-9] \/ 100$/);
    const loss = await num(page, 'loss-last');
    expect(Number.isFinite(loss) && loss > 0).toBe(true);
    expect(await num(page, 'run-rate')).toBeGreaterThan(0);
    expect(await num(page, 'run-eta')).toBeGreaterThan(0);
    expect(await num(page, 'loss-plot', 'data-points')).toBeGreaterThanOrEqual(2);
    // The first step allocates exactly what the planner predicted.
    expect(await num(page, 'planned-peak', 'data-bytes')).toBe(planned);
    expect(await num(page, 'first-step-peak', 'data-bytes')).toBe(planned);
    expect(await text(page, 'first-step-peak')).toMatch(/= planned$/);
    // The memory panel follows the worker's ledger: the run's weights are live.
    expect(await page.locator('tr[data-category=weights] td').first().textContent()).toMatch(/MiB/);
    // The timeline has a sample per phase of each step and one after it.
    expect(await num(page, 'timeline-plot', 'data-samples')).toBeGreaterThanOrEqual(2 * 3);
    await page.screenshot({ path: join(SHOTS, 'train-running.png'), fullPage: true });
  });

  it('pauses and resumes from the keyboard, between steps', async () => {
    await page.getByTestId('run-primary').focus();
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=run-state][data-state=paused]').waitFor();
    const at = await num(page, 'run-step');
    expect(await text(page, 'run-primary')).toBe('Resume');
    expect(await deepFocus(page)).toBe('run-primary');
    await page.waitForTimeout(3000);
    expect(await num(page, 'run-step')).toBe(at);
    await page.screenshot({ path: join(SHOTS, 'train-paused.png'), fullPage: true });
    // The training view at 1280x800, as docs/screenshot.png shows it.
    await page.getByRole('heading', { name: 'Model and training' }).evaluate((h) => h.closest('section')!.scrollIntoView({ block: 'start' }));
    await page.evaluate(() => window.scrollBy(0, -16));
    await page.screenshot({ path: join(SHOTS, 'train-1280x800.png') });

    await page.keyboard.press('Enter');
    await page.locator('[data-testid=run-state][data-state=running]').waitFor();
    await untilStep(page, at + 2);
  });

  it('stops and releases the run’s memory', async () => {
    await page.getByTestId('run-stop').click();
    await page.locator('[data-testid=run-state][data-state=stopped]').waitFor();
    const step = await num(page, 'run-step');
    expect(step).toBeGreaterThanOrEqual(4);
    expect(step).toBeLessThan(100);
    expect(await num(page, 'loss-plot', 'data-points')).toBe(step);
    // Only the runtime's uniform arena stays; the pool was handed back.
    await expect.poll(() => text(page, 'live')).toBe('64.0 KiB');
    expect(await text(page, 'pooled')).toBe('0 B');
    expect(await num(page, 'measured-peak', 'data-bytes')).toBeGreaterThanOrEqual(planned);
    expect(await attr(page, 'run-primary', 'aria-disabled')).toBe('false');
    await page.screenshot({ path: join(SHOTS, 'train-stopped.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it('lists the checkpoint saved when the run stopped, and exports it as .safetensors', async () => {
    const step = await num(page, 'run-step');
    const row = page.locator(`[data-testid=ck-list] tr[data-step="${step}"]`);
    await row.waitFor();
    expect(((await row.textContent()) ?? '').replace(/\s+/g, ' ')).toMatch(new RegExp(`^ ?step ${step} ?auto ${step} \\d\\.\\d+ \\d+\\.\\d MiB`));
    expect(await text(page, 'ck-storage')).toMatch(/^1 checkpoint, \d+\.\d MiB/);

    const [download] = await Promise.all([page.waitForEvent('download'), row.getByRole('button', { name: '.safetensors' }).click()]);
    expect(download.suggestedFilename()).toBe(`step-${step}-step${step}.safetensors`);
    const bytes = readFileSync((await download.path())!);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
    expect(header.__metadata__).toMatchObject({ step: String(step), preset: 'unet-tiny' });
    expect(header['conv_in.weight']).toMatchObject({ dtype: 'F32', shape: [32, 13, 3, 3] });
    expect(pageErrors).toEqual([]);
  });

  it('fits a narrow window without sideways scrolling', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBe(0);
    await page.screenshot({ path: join(SHOTS, 'train-narrow-390.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
  });
});
