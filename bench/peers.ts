/**
 * `npm run bench -- peers [--scale tiny|default|full] [--only id,id] [--peers ort,tf.js,jax] [--repeats N] [--tuned] [--json]`
 * `npm run bench -- peers --render`: re-analyse the newest results and rewrite peers.md, running nothing.
 *
 * Issue 11's comparison in one Chromium page on one adapter (SwiftShader here): ours vs ONNX Runtime Web
 * (WebGPU EP), TensorFlow.js (WebGPU backend) and jax-js (WebGPU), same inputs, outputs checked against
 * ours. Builds bench/peers/index.html with the app's Vite config, serves it, drives Debian's chromium with
 * the browser tests' flags (tests/browser/chromium.ts). Writes bench/results/<date>-peers-<adapter>.json
 * and bench/results/peers.md.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build, preview } from 'vite';
import type { Args } from '../src/cli/args.ts';
import type { Page } from 'playwright-core';
import { launchChromium } from '../tests/browser/chromium.ts';
import { ROOT } from '../tools/serve.ts';
import { fmt, header, latestPerAdapter, table, writeJson, writeMarkdown, type ResultsHeader } from './lib/results.ts';
import { analyse, type VariantEvidence } from './peers/analysis.ts';
import type { VariantsFile } from './variants.ts';
import type { PeerBenchConfig, PeerBenchResult } from './peers/types.ts';

export interface PeersFile extends ResultsHeader, PeerBenchResult {
  scale: string;
  tolerance: number;
  /** Per row that is behind a peer (or a target): why, from what was measured, and what would close it. */
  analysis: string[];
}

/** Builds bench/peers/index.html, serves it, opens it in chromium and hands the page to `fn`; the page's console goes to `log`. */
export async function withBenchPage<T>(fn: (page: Page) => Promise<T>, log: (s: string) => void = console.log): Promise<T> {
  const outDir = await mkdtemp(join(tmpdir(), 'latent-lab-peers-'));
  try {
    await build({
      root: ROOT,
      logLevel: 'warn',
      publicDir: false,
      build: { outDir, emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 8192, rolldownOptions: { input: resolve(ROOT, 'bench/peers/index.html') } },
    });
    const server = await preview({ root: ROOT, logLevel: 'warn', build: { outDir }, preview: { host: '127.0.0.1', port: 4373, strictPort: false, open: false } });
    const url = server.resolvedUrls?.local[0];
    if (!url) throw new Error('the preview server did not report its address');
    const browser = await launchChromium();
    try {
      const page = browser.page;
      page.setDefaultTimeout(0);
      page.on('console', (m) => log(`${m.type() === 'error' ? '[page error] ' : ''}${m.text()}`));
      page.on('pageerror', (e) => log(`[page error] ${e.message}`));
      await page.goto(`${url}bench/peers/index.html`);
      await page.waitForFunction(() => (window as unknown as { peerBenchReady?: boolean }).peerBenchReady === true, null, { timeout: 60_000 });
      return await fn(page);
    } finally {
      await browser.close();
      await server.close();
    }
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
}

export function runPeersPage(cfg: PeerBenchConfig, log: (s: string) => void = console.log): Promise<PeerBenchResult> {
  return withBenchPage((page) => page.evaluate((c) => (window as unknown as { peerBench: (c: PeerBenchConfig) => Promise<PeerBenchResult> }).peerBench(c), cfg), log);
}

export async function run(args: Args): Promise<void> {
  if (args.bool('render')) {
    // Re-analyse and re-render the newest results of each adapter, without running anything.
    const files = latestPerAdapter<PeersFile>('peers').map((f) => ({ ...f, analysis: analyse(f, variantEvidence(f.adapter)) }));
    for (const f of files) writeJson('peers', f.adapter, f, undefined, new Date(f.date));
    console.log(`wrote ${writeMarkdown('peers', renderPeers(files)).pathname}`);
    return;
  }
  const cfg: PeerBenchConfig = {
    scale: args.str('scale', 'default')!,
    warmup: args.num('warmup', 2)!,
    repeats: args.num('repeats', 5)!,
    minRepeats: args.num('min-repeats', 3)!,
    budgetMs: args.num('budget-ms', 4000)!,
    tolerance: args.num('tolerance', 1e-3)!,
    peers: args.str('peers')?.toLowerCase().split(','),
    only: args.str('only')?.split(','),
    autotune: args.bool('tuned'),
  };
  const quiet = args.bool('json');
  const result = await runPeersPage(cfg, quiet ? () => {} : console.log);
  const version = /Chrome\/([\d.]+)/.exec(result.userAgent)?.[1] ?? '?';
  // Tuned runs are filed beside the default ones, so that peers.md shows both.
  const key = cfg.autotune ? `${result.adapter}-tuned` : result.adapter;
  const file: PeersFile = { ...header('peers', key, `chromium ${version}`, `wall (ours also ${result.timing})`), scale: cfg.scale, tolerance: cfg.tolerance, ...result, adapter: key, analysis: [] };
  file.analysis = analyse(file, variantEvidence(file.adapter));
  const dir = args.str('out') ? new URL(`file://${args.str('out')!.replace(/\/?$/, '/')}`) : undefined;
  const path = writeJson('peers', key, file, dir);
  writeMarkdown('peers', renderPeers(latestPerAdapter<PeersFile>('peers', dir)), dir);
  if (quiet) console.log(JSON.stringify(file, null, 1));
  else console.log(`wrote ${path.pathname}`);
}

/** The newest GEMM-variant measurement on the same adapter, if one was run (bench/variants.ts). */
function variantEvidence(name: string): VariantEvidence | undefined {
  const adapter = name.replace(/-tuned$/, '');
  try {
    // Node and Chromium name the same adapter with more or fewer of its fields.
    const v = latestPerAdapter<VariantsFile>('variants').find((x) => x.adapter.startsWith(adapter) || adapter.startsWith(x.adapter));
    return v ? { host: `${v.host}, ${v.date.slice(0, 10)}`, rows: v.rows } : undefined;
  } catch {
    return undefined;
  }
}

export function renderPeers(files: PeersFile[]): string {
  const out = [
    '# Ours vs ONNX Runtime Web, TensorFlow.js and jax-js',
    '',
    '`npm run bench -- peers`: one Chromium page, one adapter, the same inputs for every library. Each cell is the peer\'s time over ours',
    '(above 1.00x: ours is faster), wall time from the run to the library\'s own GPU completion, median of repeats after a warm-up. A peer\'s',
    'output is checked against ours first (scaled max error within the tolerance); a mismatch is marked ✗ and does not count.',
    'fwd+bwd rows time the forward and the gradients of every input. Targets (issue 11): ≥ 1.0x ORT, ≥ 1.5x TF.js.',
    '',
  ];
  for (const f of files) {
    const names = Object.keys(f.peers);
    out.push(`## ${f.adapter} (${f.host}, ${f.date.slice(0, 10)}, scale ${f.scale}, load ${f.load})`, '');
    if (f.ceiling) out.push(`Ceiling measured in the page: ${fmt.rate(f.ceiling.gflops)} GFLOP/s FMA, ${fmt.rate(f.ceiling.gbps)} GB/s copy, ${fmt.rate(f.ceiling.barrierUs)} µs per workgroup barrier. Our GEMM tiles: ${Object.entries(f.tiles ?? {}).map(([k, t]) => `${k} ${t.WG_X}x${t.WG_Y} TK ${t.TK}`).join(', ')}.`, '');
    out.push(`Peers: ${Object.entries(f.peers).map(([n, v]) => `${n} ${v}`).join(', ')}.${Object.keys(f.skipped).length ? ` Not run: ${Object.entries(f.skipped).map(([n, w]) => `${n} (${w})`).join('; ')}.` : ''}`, '');
    out.push(
      table(
        ['row', 'mode', 'ours ms', 'ours GFLOP/s', 'of FMA ceiling', ...names.map((n) => `vs ${n}`)],
        f.rows.map((r) => [
          r.id,
          r.mode === 'fwd' ? 'fwd' : 'fwd+bwd',
          fmt.ms(r.ours.wallMs),
          fmt.rate(r.flops / r.ours.wallMs / 1e6),
          f.ceiling ? fmt.pct(r.flops / r.ours.wallMs / 1e6 / f.ceiling.gflops) : '–',
          ...names.map((n) => {
            const c = r.peers[n];
            if (!c || c.skipped) return c?.skipped?.includes('does not train') ? 'n/a' : '–';
            return `${fmt.ratio(c.speedup)} (${fmt.ms(c.wallMs)} ms)${c.ok ? '' : ' ✗'}`;
          }),
        ]),
      ),
      '',
    );
    const notes = f.rows.flatMap((r) => Object.entries(r.peers).filter(([, c]) => c.skipped && !c.skipped.includes('does not train')).map(([n, c]) => `- ${r.id} ${r.mode}, ${n}: ${c.skipped}`));
    if (notes.length) out.push('Not run:', '', ...notes, '');
    if (f.analysis.length) out.push('### Where we are behind, and why', '', ...f.analysis.map((a) => `- ${a}`), '');
  }
  return out.join('\n');
}
