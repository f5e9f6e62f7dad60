// End to end in headless chromium on SwiftShader, fresh profile, driven only through the page: the demo
// clip into a dataset, latents with the demo VAE, the tiny preset trained on it with autosave, a reload,
// resume from the autosave, validation, export .safetensors and import it back. Every stage asserts on
// what the page shows and leaves a screenshot in test-results/browser/e2e-*.png; stage times are printed.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, type Browser } from './chromium.ts';

const SHOTS = fileURLToPath(new URL('../../test-results/browser', import.meta.url));
mkdirSync(SHOTS, { recursive: true });
const DEMO = fileURLToPath(new URL('../../public/demo/', import.meta.url));
const MANIFEST = join(DEMO, 'demo-models.json');
const manifest = existsSync(MANIFEST) ? (JSON.parse(readFileSync(MANIFEST, 'utf8')) as { vae: { preset: string; resolution: number } }) : null;
/** The demo models' resolution: the dataset is made at it so the demo VAE encodes it. */
const RES = manifest?.vae.resolution ?? 16;

const STEPS = 24;
const AUTOSAVE_EVERY = 8;
const MORE_STEPS = 4;
// The first step compiles every kernel on SwiftShader (a minute or more on two busy cores).
const FIRST_STEP_MS = 300_000;

const times: [string, number][] = [];
let t0 = performance.now();
function stage(name: string): void {
  const now = performance.now();
  times.push([name, (now - t0) / 1000]);
  t0 = now;
}

async function text(page: Page, testId: string): Promise<string> {
  const t = await page.getByTestId(testId).first().textContent();
  return (t ?? '').replace(/\s+/g, ' ').trim();
}
const attr = async (page: Page, testId: string, name: string) => (await page.getByTestId(testId).first().getAttribute(name)) ?? '';
const num = async (page: Page, testId: string, name = 'data-value') => Number(await attr(page, testId, name));

/** Waits until an attribute of the element with this data-testid (shadow roots pierced) passes `test`. */
async function until(page: Page, testId: string, name: string, min: number, timeout: number) {
  await page.waitForFunction(
    ({ testId, name, min }) => {
      const find = (root: Document | ShadowRoot): Element | null => {
        const hit = root.querySelector(`[data-testid="${testId}"]`);
        if (hit) return hit;
        for (const el of root.querySelectorAll('*'))
          if (el.shadowRoot) {
            const inner = find(el.shadowRoot);
            if (inner) return inner;
          }
        return null;
      };
      return Number(find(document)?.getAttribute(name)) >= min;
    },
    { testId, name, min },
    { timeout, polling: 250 },
  );
}

/** Waits for the run state, or fails with the page's error banner when one shows first (a refused start says why). */
async function runState(page: Page, state: string, timeout = 60_000): Promise<void> {
  const banner = page.locator('error-banner section[role=alert]').first();
  const outcome = await Promise.race([
    page.locator(`[data-testid=run-state][data-state=${state}]`).waitFor({ timeout }).then(() => null),
    banner.waitFor({ timeout }).then(async () => ((await banner.textContent()) ?? '').replace(/\s+/g, ' ').trim()),
  ]);
  if (outcome !== null) throw new Error(`waiting for the run to be ${state}, the page showed: ${outcome}`);
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `e2e-${name}.png`), fullPage: true });

describe('end to end: demo clip -> dataset -> train -> reload -> resume -> validate -> export -> import', { timeout: 600_000 }, () => {
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const consoleLines: string[] = [];
  let savedStep = 0;
  let exported: { path: string; tensors: number; step: number } | null = null;

  beforeAll(async () => {
    browser = await launchChromium();
    page = browser.page;
    page.setDefaultTimeout(60_000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    t0 = performance.now();
    await page.goto(inject('appUrl'));
    await page.getByText('Engine ready').waitFor();
    stage('open the app');
  });

  afterAll(async () => {
    if (pageErrors.length || consoleLines.some((l) => l.startsWith('error'))) console.log(consoleLines.join('\n'));
    const table = times.map(([n, s]) => `  ${n.padEnd(34)} ${s.toFixed(1).padStart(6)} s`).join('\n');
    const total = times.reduce((n, [, s]) => n + s, 0);
    console.log(`e2e stage times:\n${table}\n  ${'total'.padEnd(34)} ${total.toFixed(1).padStart(6)} s`);
    writeFileSync(join(SHOTS, 'e2e-times.json'), JSON.stringify(Object.fromEntries(times), null, 1));
    await browser?.close();
  });

  it('refuses a broken file saying what to do; the first-run hint loads the demo clip, probed with a centred face box and the mask drawn', async () => {
    await page.getByText('First time here?').waitFor();
    // A new dataset is proposed at the demo models' resolution.
    if (manifest) await expect.poll(() => page.inputValue('[data-testid=clips-resolution]')).toBe(String(RES));
    await page.selectOption('[data-testid=clips-resolution]', String(RES));
    // A file that is no video is refused beside its name, saying what to do.
    const broken = join(SHOTS, 'e2e-broken.mp4');
    writeFileSync(broken, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 256)));
    await page.getByTestId('clips-file').setInputFiles(broken);
    await page.locator('[data-testid=clips-pending][data-state=failed]').waitFor();
    expect(await text(page, 'clips-pending-error')).toMatch(/^e2e-broken\.mp4 is not a video file this app can read \(4096 bytes; .*\)\. Drop an MP4, MOV, WebM or MKV video\./);
    await page.getByRole('button', { name: 'Dismiss', exact: true }).click();
    expect(await page.getByTestId('clips-pending').count()).toBe(0);
    await page.getByTestId('hint-demo').click();
    await page.locator('[data-testid=clips-pending][data-state=ready]').waitFor();
    expect(await text(page, 'clips-probe')).toBe('256×256, 25.00 fps, 7.52 s, avc + aac');
    // The centred largest square of a 256 x 256 frame: all of it.
    expect(JSON.parse(await attr(page, 'clips-box', 'data-box'))).toEqual({ x: 0, y: 0, size: 256 });
    expect(await page.getByTestId('clips-face-box').getAttribute('style')).toMatch(/background-image:url\(data:image\/png/);
    // Keyboard: the focused box shrinks about its centre, moves, and grows back inside the frame.
    await page.getByTestId('clips-face-box').focus();
    await page.keyboard.press('-');
    await page.keyboard.press('-');
    await page.keyboard.press('ArrowRight');
    expect(JSON.parse(await attr(page, 'clips-box', 'data-box'))).toEqual({ x: 8, y: 4, size: 248 });
    await page.keyboard.press('+');
    await page.keyboard.press('+');
    expect(JSON.parse(await attr(page, 'clips-box', 'data-box'))).toEqual({ x: 0, y: 0, size: 256 });
    await shot(page, '1-demo-clip');
    stage('probe the demo clip');
  });

  it('adds the clip to the dataset with its thumbnail and status', async () => {
    await page.getByTestId('clips-add').click();
    await page.locator('[data-testid=clip]').waitFor({ timeout: 120_000 });
    const clip = page.locator('[data-testid=clip]');
    expect(await clip.getAttribute('data-frames')).toBe('188');
    expect(await clip.getAttribute('data-status')).toBe('added');
    expect(await clip.locator('img').getAttribute('src')).toMatch(/^data:image\/png;base64,/);
    expect(await text(page, 'clip-status')).toMatch(/no cached latents yet/);
    expect(await num(page, 'clips-ready', 'data-ready')).toBe(0);
    expect(await num(page, 'clips-storage', 'data-bytes')).toBeGreaterThan(188 * RES ** 2 * 3);
    await shot(page, '2-clip-added');
    stage('add the demo clip');
  });

  it('loads the demo VAE and caches the latents: the clip becomes ready to train', async () => {
    expect(manifest, 'public/demo/demo-models.json (the demo models) is missing: build it with tools/demo/train-demo-models.ts').not.toBeNull();
    await page.getByTestId('clips-demo-vae').click();
    await page.locator('[data-testid=clips-vae][data-loaded=demo]').waitFor({ timeout: 120_000 });
    expect(await text(page, 'clips-vae')).toContain(`demo ${manifest!.vae.preset}`);
    await page.getByTestId('clips-cache').click();
    await page.locator('[data-testid=clip][data-status=ready]').waitFor({ timeout: 300_000 });
    expect(await num(page, 'clips-ready', 'data-ready')).toBe(1);
    expect(await text(page, 'clip-status')).toBe('Ready to train');
    await shot(page, '3-latents-cached');
    stage('load the demo VAE, cache latents');
  });

  it(`trains the tiny preset on the dataset for ${STEPS} steps with autosave; loss and memory update`, async () => {
    await page.selectOption('#ts-preset', 'unet-tiny');
    await page.fill('#ts-frames', '1');
    await page.press('#ts-frames', 'Enter');
    // Training on the dataset sets the settings to its resolution.
    await expect.poll(() => page.inputValue('#ts-resolution')).toBe(String(RES));
    // A verdict that is not being re-planned: Start is offered.
    await page.locator('[data-testid=verdict][data-fits=true][aria-busy=false]').waitFor();
    await page.getByLabel('Autosave every N steps').fill(String(AUTOSAVE_EVERY));
    await page.getByLabel('Autosave every N steps').press('Enter');
    // Typing is enough (Enter there would start the run as soon as it may: the click below starts it).
    await page.fill('#run-steps', String(STEPS));
    // Start is offered once the planner's verdict on these settings is in.
    await expect.poll(async () => `${await text(page, 'run-primary')} ${await attr(page, 'run-primary', 'aria-disabled')}`, { timeout: 120_000 }).toBe('Start false');
    await page.getByTestId('run-primary').click();
    await runState(page, 'running');
    expect(await text(page, 'run-data')).toMatch(/^Data: 1 clips? of dataset /);
    await until(page, 'run-step', 'data-value', 2, FIRST_STEP_MS);
    stage('first steps (kernel compile)');
    const firstLoss = await num(page, 'loss-last');
    const firstSamples = await num(page, 'timeline-plot', 'data-samples');
    expect(Number.isFinite(firstLoss) && firstLoss > 0).toBe(true);
    await runState(page, 'done', 300_000);
    expect(await text(page, 'run-step')).toBe(`${STEPS} / ${STEPS}`);
    const lastLoss = await num(page, 'loss-last');
    expect(Number.isFinite(lastLoss) && lastLoss > 0).toBe(true);
    expect(lastLoss).not.toBe(firstLoss);
    expect(await num(page, 'loss-plot', 'data-points')).toBe(STEPS);
    expect(await num(page, 'timeline-plot', 'data-samples')).toBeGreaterThan(firstSamples);
    expect(await num(page, 'measured-peak', 'data-bytes')).toBeGreaterThan(0);
    // Autosaves at 8, 16 and 24 (the last one when the run finished).
    for (const step of [AUTOSAVE_EVERY, 2 * AUTOSAVE_EVERY, STEPS]) await page.locator(`[data-testid=ck-list] tr[data-step="${step}"]`).waitFor();
    savedStep = STEPS;
    await shot(page, '4-trained');
    stage(`train ${STEPS} steps`);
  });

  it('after a reload, the dataset, the VAE and the autosave interval are back and the run resumes from its autosave', async () => {
    await page.reload();
    await page.getByText('Engine ready').waitFor();
    await page.locator('[data-testid=clip][data-status=ready]').waitFor();
    await page.locator('[data-testid=clips-vae][data-loaded=demo]').waitFor({ timeout: 120_000 });
    // The autosave interval chosen before the reload is back (the new worker started from its defaults).
    await expect.poll(() => page.getByLabel('Autosave every N steps').inputValue()).toBe(String(AUTOSAVE_EVERY));
    const row = page.locator(`[data-testid=ck-list] tr[data-step="${savedStep}"]`);
    await row.waitFor();
    await page.fill('#run-steps', String(savedStep + MORE_STEPS));
    await row.getByRole('button', { name: 'Restore' }).click();
    await runState(page, 'running');
    expect(await text(page, 'run-data')).toMatch(/^Data: 1 clips? of dataset /);
    await until(page, 'run-step', 'data-value', savedStep + 1, FIRST_STEP_MS);
    // The restored run's curve continues the saved one.
    expect(await num(page, 'loss-plot', 'data-points')).toBeGreaterThan(savedStep);
    await page.getByTestId('run-primary').click();
    await page.locator('[data-testid=run-state][data-state=paused]').waitFor();
    await shot(page, '5-resumed');
    stage('reload, resume from the autosave');
  });

  it('validates the paused run (tiled decode) and shows PSNR', async () => {
    const step = await num(page, 'run-step');
    await page.getByTestId('validate-now').click();
    await until(page, 'validation-step', 'data-value', step, 300_000);
    const psnr = await num(page, 'validation-psnr');
    expect(Number.isFinite(psnr) && psnr > 0).toBe(true);
    expect(await text(page, 'validation-psnr')).toBe(`${psnr.toFixed(2)} dB`);
    expect(await text(page, 'validation-peak')).toMatch(/^Peak \d+\.\d MiB of the 4\.00 GiB budget .* Tiled decode, tile edge \d+\.$/);
    console.log(`e2e validation: ${await text(page, 'validation-peak')} | ${await text(page, 'validation-reference')}`);
    await shot(page, '6-validated');
    stage('validate (tiled)');
  });

  it('saves the paused run, stops it, and exports the checkpoint as .safetensors', async () => {
    const step = await num(page, 'run-step');
    await page.getByTestId('ck-save').click();
    const row = page.locator(`[data-testid=ck-list] tr[data-step="${step}"]`);
    await row.waitFor();
    await page.getByTestId('run-stop').click();
    await runState(page, 'stopped');
    const [download] = await Promise.all([page.waitForEvent('download'), row.getByRole('button', { name: '.safetensors' }).click()]);
    const path = (await download.path())!;
    const bytes = readFileSync(path);
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
    expect(header.__metadata__).toMatchObject({ step: String(step), preset: 'unet-tiny' });
    // The dataset's config goes with it: lip sync reads the features and mask the model trained with.
    expect(JSON.parse(header.__metadata__.dataset_config)).toMatchObject({ resolution: RES, audio: { kind: 'logmel', nMels: 80 }, mask: { top: 0.5, bottom: 1 } });
    exported = { path, tensors: Object.keys(header).filter((k) => k !== '__metadata__').length, step };
    expect(exported.tensors).toBeGreaterThan(50);
    await shot(page, '7-exported');
    stage('export .safetensors');
  });

  it('imports the exported file back: every tensor matches the model', async () => {
    await page.getByTestId('ck-import').setInputFiles(exported!.path);
    await page.getByTestId('ck-imported').waitFor();
    // A strict import: every tensor of the file matched the model's names and shapes, none skipped.
    expect(await text(page, 'ck-imported')).toBe(`Loaded ${exported!.tensors} tensors from a .safetensors file; they go into the next run.`);
    expect(await text(page, 'ck-imported')).not.toMatch(/skipped/);
    await shot(page, '8-imported');
    // The training view with the clips and validation panels, as docs/screenshot.png shows it.
    const { top, bottom } = await page.evaluate(() => {
      const app = document.querySelector('lab-app')!.shadowRoot!;
      const rect = (sel: string) => app.querySelector(sel)!.getBoundingClientRect();
      return { top: rect('train-settings').top + scrollY - 16, bottom: Math.max(rect('clips-panel').bottom, rect('validation-gallery').bottom) + scrollY + 16 };
    });
    await page.screenshot({ path: join(SHOTS, 'e2e-training-view.png'), fullPage: true, clip: { x: 0, y: top, width: 1280, height: bottom - top } });
    expect(pageErrors).toEqual([]);
    stage('import it back');
  });

  it('fits a narrow window with the clips panel, without sideways scrolling', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBe(0);
    await page.getByTestId('clips').screenshot({ path: join(SHOTS, 'e2e-clips-narrow-390.png') });
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('removes the clip: the dataset is empty and its storage is given back', async () => {
    expect(await num(page, 'clips-storage', 'data-bytes')).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Remove demo.mp4' }).click();
    await page.getByTestId('clips-empty').waitFor();
    await expect.poll(() => num(page, 'clips-storage', 'data-bytes')).toBe(0);
  });
});
