/**
 * `npm run bench -- ops [--json] [--scale tiny|default|full] [--only name,name] [--repeats N] [--tuned] [--browser]`: forward and
 * backward time of each op (issue 3) on the current adapter, as fractions of the adapter's ceiling measured
 * in the same run, in Node on Dawn, or with --browser in a Chromium page. Writes
 * bench/results/<date>-ops-<adapter>.json and bench/results/ops.md.
 */
import type { Args } from '../src/cli/args.ts';
import { conv2dTiles } from '../src/tensor/ops/conv2d.ts';
import { matmulTiles } from '../src/tensor/ops/matmul.ts';
import { autotune } from './lib/autotune.ts';
import { fileStore } from './lib/autotune-file.ts';
import { measureFlags, nodeBench } from './lib/node-device.ts';
import { fmt, header, latestPerAdapter, table, writeJson, writeMarkdown, type ResultsHeader } from './lib/results.ts';
import { withBenchPage } from './peers.ts';
import type { OpsPageConfig, OpsPageResult } from './peers/types.ts';
import { measureCeiling, type CeilingResult } from './suites/ceiling.ts';
import type { Scale } from './suites/op-cases.ts';
import { runOps, type OpRow } from './suites/ops.ts';

export interface OpsFile extends ResultsHeader {
  scale: Scale;
  /** The GEMM tiles the run used (the defaults, or the autotune's with --tuned). */
  tiles: Record<string, { WG_X: number; WG_Y: number; TK: number }>;
  ceiling: CeilingResult;
  rows: OpRow[];
}

export async function run(args: Args): Promise<void> {
  const scale = (args.str('scale', 'default') as Scale);
  const flags = measureFlags(args);
  const quiet = args.bool('json');
  const dir = args.str('out') ? new URL(`file://${args.str('out')!.replace(/\/?$/, '/')}`) : undefined;
  if (args.bool('browser')) {
    // The same suite in a Chromium page (bench/peers/page.ts); its results are filed as <adapter>-chromium.
    const cfg: OpsPageConfig = { ...flags, scale, only: args.str('only')?.split(',') };
    const r = await withBenchPage((page) => page.evaluate((c) => (window as unknown as { opsBench: (c: OpsPageConfig) => Promise<OpsPageResult> }).opsBench(c), cfg), quiet ? () => {} : console.log);
    const version = /Chrome\/([\d.]+)/.exec(r.userAgent)?.[1] ?? '?';
    const key = `${r.adapter}-chromium`;
    const file: OpsFile = { ...header('ops', key, `chromium ${version}`, r.timing), scale, tiles: r.tiles, ceiling: r.ceiling, rows: r.rows };
    const path = writeJson('ops', key, file, dir);
    writeMarkdown('ops', renderOps(latestPerAdapter<OpsFile>('ops', dir)), dir);
    if (quiet) console.log(JSON.stringify(file, null, 1));
    else console.log(`wrote ${path.pathname}`);
    return;
  }
  const { rt, timer, adapter } = await nodeBench();
  const tuned = args.bool('tuned') ? await autotune(rt, timer, adapter, { store: fileStore() }) : null;
  if (tuned && !quiet) console.log(`tiles from the autotune (${tuned.source}): ${Object.entries(tuned.kernels).map(([k, t]) => `${k} ${JSON.stringify(t.best)}`).join(', ')}`);
  const ceiling = await measureCeiling(rt, timer, { ...flags, size: scale === 'tiny' ? 0.05 : 1 });
  if (!quiet) console.log(`ceiling: ${fmt.rate(ceiling.gflops)} GFLOP/s, ${fmt.rate(ceiling.gbps)} GB/s (${timer.method})`);
  const rows = await runOps(rt, timer, ceiling, {
    ...flags,
    scale,
    only: args.str('only')?.split(','),
    onRow: (r) => quiet || console.log(`${r.name.padEnd(28)} fwd ${fmt.ms(r.fwd.ms).padStart(7)} ms ${fmt.pct(r.fwd.ofCeiling).padStart(6)}   bwd ${fmt.ms(r.bwd?.ms).padStart(7)} ms ${fmt.pct(r.bwd?.ofCeiling).padStart(6)}`),
  });
  const tiles = { matmul: { ...matmulTiles }, conv2d: { ...conv2dTiles } };
  // Tuned runs are filed beside the default ones, so that ops.md shows both.
  const key = tuned ? `${adapter}-tuned` : adapter;
  const file: OpsFile = { ...header('ops', key, 'node (Dawn)', timer.method), scale, tiles, ceiling, rows };
  const path = writeJson('ops', key, file, dir);
  writeMarkdown('ops', renderOps(latestPerAdapter<OpsFile>('ops', dir)), dir);
  if (quiet) console.log(JSON.stringify(file, null, 1));
  else console.log(`wrote ${path.pathname}`);
}

export function renderOps(files: OpsFile[]): string {
  const out = [
    '# Ops: forward and backward time',
    '',
    'Each op of src/tensor/ops at shapes sized for SwiftShader (`npm run bench -- ops`; `--browser` runs it in a Chromium page). All ops run in',
    'interleaved rounds (a warm-up round, then every op forward and backward per round) and each time is the median over the rounds, by GPU',
    'timestamps bracketing the work where the adapter has them. "of ceiling" is the roofline fraction: max(FLOPs / peak FLOP/s, bytes / peak',
    "bandwidth) / time, against the FMA and copy ceiling measured in the same run (ceiling.md). Backward includes accumulating each input's",
    'gradient, as a training step does. The 2-core machine is shared with other test runs (see the load): on SwiftShader the GPU is these',
    'same cores, so single rows can move by 2x between runs; compare rows within a run.',
    '',
  ];
  for (const f of files) {
    out.push(
      `## ${f.adapter} (${f.host}, ${f.date.slice(0, 10)}, scale ${f.scale}, ${f.method}, load ${f.load})`,
      '',
      `Ceiling: ${fmt.rate(f.ceiling.gflops)} GFLOP/s, ${fmt.rate(f.ceiling.gbps)} GB/s. GEMM tiles: ${Object.entries(f.tiles ?? {}).map(([k, t]) => `${k} ${t.WG_X}x${t.WG_Y} TK ${t.TK}`).join(', ')}.`,
      '',
      table(
        ['op', 'shape', 'fwd ms', 'fwd GFLOP/s', 'fwd GB/s', 'fwd of ceiling', 'bwd ms', 'bwd GFLOP/s', 'bwd of ceiling'],
        f.rows.map((r) => [
          r.name,
          r.shape,
          fmt.ms(r.fwd.ms),
          fmt.rate(r.fwd.gflops),
          fmt.rate(r.fwd.gbps),
          fmt.pct(r.fwd.ofCeiling),
          fmt.ms(r.bwd?.ms),
          fmt.rate(r.bwd?.gflops),
          fmt.pct(r.bwd?.ofCeiling),
        ]),
      ),
      '',
    );
  }
  return out.join('\n');
}
