import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's chromium; CHROMIUM points elsewhere (e.g. another distribution's binary). */
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** WebGPU on SwiftShader, the CPU Vulkan driver shipped with chromium: works on machines without a GPU. */
export const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-webgpu-adapter=swiftshader'];
/** No sandbox (CI runs as root), and nothing that reaches the network or changes between runs. */
export const QUIET_FLAGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** Headless chromium with a fresh profile in a temp dir (removed on close). */
export async function launchChromium(opts: { webgpu?: boolean; extraArgs?: string[] } = {}): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'latent-lab-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...(opts.webgpu === false ? [] : WEBGPU_FLAGS), ...QUIET_FLAGS, ...(opts.extraArgs ?? [])],
    viewport: { width: 1280, height: 800 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
