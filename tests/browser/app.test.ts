import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, type Browser } from './chromium.ts';

const SHOTS = fileURLToPath(new URL('../../test-results/browser', import.meta.url));
mkdirSync(SHOTS, { recursive: true });

// What the worker's ledger holds after start-up: the runtime's 64 KiB uniform arena stays live; the
// self-test's x, y and readback staging buffers (16 KiB each) go back to the pool.
const LIVE = '64.0 KiB';
const POOLED = '48.0 KiB';
const HELD = '112.0 KiB';

/** Text of the element with this data-testid (shadow roots are pierced), whitespace collapsed. */
async function text(page: Page, testId: string): Promise<string> {
  const t = await page.getByTestId(testId).first().textContent();
  return (t ?? '').replace(/\s+/g, ' ').trim();
}

/** The focused element inside shadow roots, as "tag#id". */
function deepFocus(page: Page): Promise<string> {
  return page.evaluate(() => {
    let a = document.activeElement;
    while (a?.shadowRoot?.activeElement) a = a.shadowRoot.activeElement;
    return a ? `${a.tagName.toLowerCase()}${a.id ? `#${a.id}` : ''}` : '';
  });
}

describe('the app in headless chromium on SwiftShader', () => {
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const consoleLines: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
    page = browser.page;
    page.setDefaultTimeout(60_000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    await page.goto(inject('appUrl'));
  });

  afterAll(async () => {
    if (pageErrors.length || consoleLines.some((l) => l.startsWith('error'))) console.log(consoleLines.join('\n'));
    await browser?.close();
  });

  it('loads the app with its first-run hint', async () => {
    expect(await page.title()).toBe('latent-lab');
    await page.getByRole('heading', { name: /latent-lab/ }).waitFor();
    await page.getByText('First time here?').waitFor();
  });

  it('the worker gets a WebGPU device on SwiftShader and passes the self-test', async () => {
    await page.getByText('Engine ready').waitFor();
    expect(await text(page, 'adapter')).toMatch(/swiftshader/i);
    expect(await text(page, 'selftest')).toMatch(/Self-test: passed · 4,096 values, max error 0/);
    // Limits come from the worker's device: numbers, formatted, never blank.
    const limits = await text(page, 'limits');
    expect(limits).toMatch(/Largest buffer \d+(\.\d+)? (MiB|GiB)/);
    expect(limits).toMatch(/Workgroups per dimension [\d,]+/);
    expect(pageErrors).toEqual([]);
  });

  it('the memory panel shows the worker ledger', async () => {
    await page.getByTestId('live').waitFor();
    expect(await text(page, 'live')).toBe(LIVE);
    expect(await text(page, 'pooled')).toBe(POOLED);
    expect(await text(page, 'held')).toBe(HELD);
    expect(await text(page, 'peak')).toBe(HELD);
    expect(await text(page, 'budget')).toBe('4.00 GiB');
    const row = async (sel: string) => ((await page.locator(sel).first().textContent()) ?? '').replace(/\s+/g, ' ').trim();
    expect(await row('tr[data-category=workspace]')).toBe('workspace 64.0 KiB 96.0 KiB');
    expect(await row('tr[data-category=staging]')).toBe('staging 0 B 16.0 KiB');
    expect(await row('tr[data-category=pool]')).toContain(POOLED);
    expect(await row('tr[data-phase=selftest]')).toBe('selftest 112.0 KiB workspace 96.0 KiB');
    expect(await page.getByTestId('memory-bar').getAttribute('aria-label')).toBe(
      'Held 112.0 KiB of a 4.00 GiB budget: workspace 64.0 KiB, pool 48.0 KiB. Peak 112.0 KiB.',
    );
  });

  it('the budget can be set from the keyboard and the panel follows', async () => {
    // Reach the budget field with Tab alone.
    await page.locator('body').click({ position: { x: 1, y: 1 } });
    for (let i = 0; i < 12 && (await deepFocus(page)) !== 'input#budget'; i++) await page.keyboard.press('Tab');
    expect(await deepFocus(page)).toBe('input#budget');
    // Unit: GiB -> MiB keeps the amount (4 GiB reads 4096 MiB).
    await page.keyboard.press('Tab');
    expect(await deepFocus(page)).toBe('select');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('Shift+Tab');
    expect(await page.locator('#budget').inputValue()).toBe('4096');
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type('0.25');
    await page.keyboard.press('Enter');

    await expect.poll(() => text(page, 'budget')).toBe('256.0 KiB');
    expect(await text(page, 'held')).toBe(HELD);
    expect(await text(page, 'memory-caption')).toBe('0 112.0 KiB held · 43.8% of the budget · peak 112.0 KiB 278.3 KiB');
    // The scale leaves 8% past the budget: the line sits at 92%.
    expect(await page.getByTestId('budget-line').getAttribute('style')).toContain('left:92.000%');
    await page.screenshot({ path: join(SHOTS, 'app-1280x800.png') });
  });

  it('a budget below the pool trims it; one below the live bytes is refused with advice', async () => {
    const input = page.locator('#budget');
    await input.fill('0.1'); // 102.4 KiB: live 64 KiB fits, the 48 KiB pool does not
    await input.press('Enter');
    await expect.poll(() => text(page, 'budget')).toBe('102.4 KiB');
    expect(await text(page, 'pooled')).toBe('32.0 KiB');
    expect(await text(page, 'held')).toBe('96.0 KiB');
    expect(await text(page, 'live')).toBe(LIVE);

    await input.fill('0.01'); // 10.2 KiB, below the live 64 KiB
    await input.press('Enter');
    await page.getByTestId('budget-error').waitFor();
    expect(await text(page, 'budget-error')).toBe(
      'A budget of 10.2 KiB is below the 64.0 KiB that live GPU buffers hold now. Choose at least 64.0 KiB, or stop what is running first.',
    );
    expect(await text(page, 'budget')).toBe('102.4 KiB');
    await page.screenshot({ path: join(SHOTS, 'app-budget-refused.png') });

    await input.fill('0.25');
    await input.press('Enter');
    await expect.poll(() => text(page, 'budget')).toBe('256.0 KiB');
    expect(await page.getByTestId('budget-error').count()).toBe(0);
  });

  it('keeps the budget and the dismissed hint across a reload', async () => {
    await page.getByRole('button', { name: 'Got it' }).click();
    await page.reload();
    await page.getByText('Engine ready').waitFor();
    expect(await text(page, 'budget')).toBe('256.0 KiB');
    expect(await page.getByText('First time here?').count()).toBe(0);
  });

  it('fits a narrow window without sideways scrolling', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByTestId('live').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBe(0);
    await page.screenshot({ path: join(SHOTS, 'app-narrow-390.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    expect(pageErrors).toEqual([]);
  });
});

describe('the app in chromium without usable WebGPU', () => {
  it('says what happened and what to do', async () => {
    // Without the WebGPU flags, headless chromium on Linux offers navigator.gpu but no adapter.
    const b = await launchChromium({ webgpu: false });
    try {
      b.page.setDefaultTimeout(60_000);
      await b.page.goto(inject('appUrl'));
      await b.page.getByText('Engine stopped').waitFor();
      const alert = b.page.getByRole('alert').first();
      const code = await alert.getAttribute('data-code');
      expect(['no-adapter', 'no-webgpu']).toContain(code);
      expect((await alert.textContent())?.replace(/\s+/g, ' ')).toMatch(/--enable-unsafe-webgpu/);
      expect(await text(b.page, 'adapter')).toBe('No GPU: see the message above.');
      await b.page.screenshot({ path: join(SHOTS, 'app-no-webgpu.png') });
    } finally {
      await b.close();
    }
  });
});
