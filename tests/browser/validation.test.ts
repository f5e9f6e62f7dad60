import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, type Browser } from './chromium.ts';

const SHOTS = fileURLToPath(new URL('../../test-results/browser', import.meta.url));
mkdirSync(SHOTS, { recursive: true });

// The first step compiles the training kernels and the first validation the sampling and tiled-decode ones.
const FIRST_VALIDATION_MS = 540_000;

async function text(page: Page, testId: string): Promise<string> {
  const t = await page.getByTestId(testId).first().textContent();
  return (t ?? '').replace(/\s+/g, ' ').trim();
}
const attr = async (page: Page, testId: string, name: string) => (await page.getByTestId(testId).first().getAttribute(name)) ?? '';
const num = async (page: Page, testId: string, name = 'data-value') => Number(await attr(page, testId, name));

describe('the validation gallery in headless chromium on SwiftShader', { timeout: 900_000 }, () => {
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
    page = browser.page;
    page.setDefaultTimeout(60_000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(inject('appUrl'));
    await page.getByText('Engine ready').waitFor();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('before a run: Validate now is unavailable and says why', async () => {
    expect(await attr(page, 'validate-now', 'aria-disabled')).toBe('true');
    expect(await text(page, 'validation-why')).toMatch(/^Start a run first/);
    expect(await text(page, 'validation-empty')).toMatch(/appear here when a run validates/);
  });

  it('validates every 2 steps during a run: truth, generated, mouth crop, PSNR and peak', async () => {
    await page.selectOption('#ts-preset', 'unet-tiny');
    await page.selectOption('#ts-resolution', '16');
    await page.fill('#ts-frames', '1');
    await page.fill('#ts-validateEvery', '2');
    // A verdict that is not being re-planned: Start is offered.
    await page.locator('[data-testid=verdict][data-fits=true][aria-busy=false]').waitFor();
    await page.fill('#run-steps', '100');
    await page.getByTestId('run-primary').click();
    await page.getByTestId('validation-psnr').waitFor({ timeout: FIRST_VALIDATION_MS });

    expect(await num(page, 'validation-step')).toBe(2);
    const psnr = await num(page, 'validation-psnr');
    expect(Number.isFinite(psnr) && psnr > 0).toBe(true);
    expect(await text(page, 'validation-psnr')).toBe(`${psnr.toFixed(2)} dB`);
    const peak = await num(page, 'validation-peak');
    expect(peak).toBeGreaterThan(0);
    expect(await text(page, 'validation-peak')).toMatch(/^Peak \d+\.\d MiB of the 4\.00 GiB budget .*; planned \d+\.\d MiB \(the line\)\./);
    expect(await text(page, 'validation-reference')).toMatch(/VAE’s decode of the clip’s true latents.*seeded, untrained weights/);
    // One frame per sample here: truth and generated, then the mouth crop of both.
    expect(await page.locator('validation-gallery rgb-canvas').count()).toBe(4);
    const mouth = page.locator('[data-testid=validation-mouth] canvas').first();
    expect(await mouth.getAttribute('width')).toBe('16');
    expect(await mouth.getAttribute('height')).toBe('8');
    expect(await mouth.evaluate((c) => getComputedStyle(c).imageRendering)).toBe('pixelated');
    // The memory timeline shows the validation category.
    await page.screenshot({ path: join(SHOTS, 'validation-1280x800.png'), fullPage: true });
  });

  it('pauses, validates now from the keyboard, and shows the asked-for result', async () => {
    await page.getByTestId('run-primary').click();
    await page.locator('[data-testid=run-state][data-state=paused]').waitFor({ timeout: 120_000 });
    const at = await num(page, 'run-step');
    expect(await attr(page, 'validate-now', 'aria-disabled')).toBe('false');
    expect(await text(page, 'validation-why')).toBe('Runs now with the paused model.');
    await page.getByTestId('validate-now').focus();
    await page.keyboard.press('Enter');
    await page.locator(`[data-testid=validation-step][data-value="${at}"]`).waitFor({ timeout: 300_000 });
    expect(await page.getByRole('button', { name: /step \d+ \(asked\)/ }).count()).toBe(1);
    expect(await num(page, 'validation-psnr')).toBeGreaterThan(0);
    expect(await text(page, 'validation-error')).toBe('');
    expect(await attr(page, 'run-state', 'data-state')).toBe('paused');

    await page.setViewportSize({ width: 420, height: 900 });
    await page.getByTestId('slot-validation').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(SHOTS, 'validation-narrow.png'), fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.setViewportSize({ width: 1280, height: 800 });

    await page.getByTestId('run-stop').click();
    await page.locator('[data-testid=run-state][data-state=stopped]').waitFor({ timeout: 120_000 });
    expect(await attr(page, 'validate-now', 'aria-disabled')).toBe('true');
    expect(await text(page, 'validation-why')).toMatch(/^The run has ended and released its model/);
    expect(pageErrors).toEqual([]);
  });
});
