import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'vite';
import type { TestProject } from 'vitest/node';
import { ROOT, serveBuilt } from '../../tools/serve.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where the freshly built app is served, e.g. http://127.0.0.1:5173/ */
    appUrl: string;
  }
}

/** Builds the app into a temp dir (dist/ stays the user's) and serves it for the whole run. */
export default async function setup(project: TestProject) {
  const outDir = await mkdtemp(join(tmpdir(), 'latent-lab-dist-'));
  await build({ root: ROOT, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  const served = await serveBuilt({ dir: outDir, port: 4173 });
  project.provide('appUrl', served.url);
  return async () => {
    await served.close();
    await rm(outDir, { recursive: true, force: true });
  };
}
