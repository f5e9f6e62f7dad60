/**
 * Serves the built app (dist/ unless told otherwise) on 127.0.0.1, from the given port or the next free
 * one, with the headers of vite.config.ts. `npm start` and the browser tests use it.
 *
 *   node --import tsx tools/serve.ts [--port 5173] [--dir dist]
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { preview } from 'vite';

export const ROOT = resolve(fileURLToPath(import.meta.url), '../..');

export interface Served {
  url: string;
  close(): Promise<void>;
}

export async function serveBuilt(opts: { dir?: string; port?: number } = {}): Promise<Served> {
  const outDir = resolve(ROOT, opts.dir ?? 'dist');
  if (!existsSync(resolve(outDir, 'index.html'))) throw new Error(`${outDir} holds no built app; run \`npm run build\` first`);
  const server = await preview({
    root: ROOT,
    logLevel: 'warn',
    build: { outDir },
    preview: { host: '127.0.0.1', port: opts.port ?? 5173, strictPort: false, open: false },
  });
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error('the preview server did not report its address');
  return { url, close: () => server.close() };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const served = await serveBuilt({ dir: arg('dir'), port: Number(arg('port') ?? 5173) });
  console.log(`\nlatent-lab is running at ${served.url}\n`);
  console.log('Open it in Chrome or Edge 113+ (WebGPU). On Linux, Chrome may need: --enable-unsafe-webgpu --enable-features=Vulkan');
  console.log('Press Ctrl+C to stop.');
  const stop = () => void served.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
