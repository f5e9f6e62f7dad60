import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import type { Args } from '../src/cli/args.ts';
import { fmtBytes } from '../src/gpu/memory/bytes.ts';
import { acquireNodeDevice } from '../src/gpu/node-gpu.ts';
import { GpuRuntime } from '../src/gpu/runtime.ts';
import { getPreset } from '../src/nn/presets.ts';
import { AutoencoderKL } from '../src/nn/vae/autoencoder-kl.ts';
import { Tensor } from '../src/tensor/tensor.ts';
import { seededLatents, untiledDecode } from '../src/validate/decode-compare.ts';
import { decodeTiledToHost, type TiledReport } from '../src/validate/tiled-vae.ts';
import { blendTiledDecode } from './blend-tiling.ts';

/**
 * `npm run bench -- tiled-decode [--preset P] [--sizes 64,128] [--images N] [--cap-fraction F] [--seed S]`
 *
 * At two resolutions: the untiled decode (time, peak); our exact tiled decode under a cap of F x the
 * untiled peak (the planner picks the tile), and at a fixed tile as large as the blend's; and the
 * diffusers-style overlapped-blend tiling (blend-tiling.ts) of the same latents. Max abs differences are
 * against the untiled decode. Peaks are live bytes above the start (pooling off). Each configuration runs
 * once untimed first (pipeline compiles), then once timed. Writes bench/results/tiled-decode-<adapter>.json
 * and regenerates bench/results/tiled-decode.md from every adapter's file.
 */
const RESULTS = new URL('./results/', import.meta.url);

interface Row {
  size: [number, number];
  latents: number[];
  untiled: { ms: number; peakBytes: number } | { skipped: string };
  /** ms: the decode; planMs: choosing its tile on the meta device, before it. */
  exact: { tile: number; staging: TiledReport['staging']; capBytes: number; ms: number; planMs: number; peakBytes: number; plannedPeakBytes: number | null; maxAbsDiff: number | null };
  exactAtBlendTile: { tile: number; ms: number; peakBytes: number; maxAbsDiff: number | null };
  blend: { tileLatent: number; overlap: number; tiles: number; ms: number; peakBytes: number; maxAbsDiff: number | null };
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 48) || 'unknown';

function maxAbsDiff(a: Float32Array, b: Float32Array | null): number | null {
  if (!b) return null;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function tiledRun(vae: AutoencoderKL, latents: Tensor, capBytes: number, tile?: number) {
  let report: TiledReport | null = null;
  const t0 = performance.now();
  const host = await decodeTiledToHost(vae, latents, { capBytes, tile, staging: tile === undefined ? undefined : 'gpu', onReport: (r) => (report = r) });
  return { host, report: report!, ms: performance.now() - t0 };
}

async function measure(rt: GpuRuntime, vae: AutoencoderKL, size: [number, number], images: number, capFraction: number, seed: number): Promise<Row> {
  const factor = 2 ** (vae.config.block_out_channels.length - 1);
  const shape = [images, vae.config.latent_channels, size[0] / factor, size[1] / factor];
  const values = seededLatents(shape.reduce((a, b) => a * b, 1), seed);
  const latents = Tensor.fromArray(rt, values, shape, 'f32', 'data', 'latents');
  const blendTile = Math.max(2, Math.floor(Math.min(shape[2], shape[3]) / 2));

  await untiledDecode(rt, vae, latents); // warm-up: compiles the pipelines
  const untiled = await untiledDecode(rt, vae, latents);
  const reference = 'values' in untiled ? untiled.values : null;
  const cap = 'values' in untiled ? Math.floor(untiled.peakBytes * capFraction) : Number.POSITIVE_INFINITY;

  await tiledRun(vae, latents, cap);
  const exact = await tiledRun(vae, latents, cap);
  await tiledRun(vae, latents, Number.POSITIVE_INFINITY, blendTile * factor);
  const fixed = await tiledRun(vae, latents, Number.POSITIVE_INFINITY, blendTile * factor);
  const host = { shape, data: values };
  await blendTiledDecode(rt, vae, host, blendTile);
  const t0 = performance.now();
  const blend = await blendTiledDecode(rt, vae, host, blendTile);
  const blendMs = performance.now() - t0;
  latents.dispose();

  const e = exact.report;
  return {
    size,
    latents: shape,
    untiled: 'values' in untiled ? { ms: untiled.ms, peakBytes: untiled.peakBytes } : untiled,
    exact: { tile: e.tile, staging: e.staging, capBytes: e.capBytes, ms: e.ms, planMs: exact.ms - e.ms, peakBytes: e.peakBytes, plannedPeakBytes: e.plannedPeakBytes, maxAbsDiff: maxAbsDiff(exact.host.data, reference) },
    exactAtBlendTile: { tile: fixed.report.tile, ms: fixed.report.ms, peakBytes: fixed.report.peakBytes, maxAbsDiff: maxAbsDiff(fixed.host.data, reference) },
    blend: { tileLatent: blendTile, overlap: 0.25, tiles: blend.tiles, ms: blendMs, peakBytes: blend.peakBytes, maxAbsDiff: maxAbsDiff(blend.data, reference) },
  };
}

const ms = (v: number) => `${v.toFixed(0)} ms`;
const err = (v: number | null) => (v === null ? 'n/a' : v.toExponential(1));

/** One table for every adapter that has results. */
function writeMarkdown(): void {
  const lines = [
    '# Tiled VAE decode: exact tiling vs untiled vs diffusers-style blend',
    '',
    'Written by `npm run bench -- tiled-decode` from the `tiled-decode-<adapter>.json` files beside it. Random seeded',
    'weights and latents; max abs diff against the untiled decode; peaks are live ledger bytes above the start.',
    '"exact (cap)": under a cap of the given fraction of the untiled peak, tile chosen by the planner;',
    '"exact (blend tile)": our tiling at the blend\'s tile size; "blend": overlapped tiles decoded whole, blended linearly.',
    '',
    '| adapter | preset | image | untiled | exact (cap): tile, time, peak, diff | exact (blend tile): time, peak, diff | blend: tiles, time, peak, diff |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const f of readdirSync(RESULTS).filter((n) => /^tiled-decode-.+\.json$/.test(n)).sort()) {
    const r = JSON.parse(readFileSync(new URL(f, RESULTS), 'utf8')) as { adapter: string; preset: string; rows: Row[] };
    for (const row of r.rows) {
      const u = 'skipped' in row.untiled ? 'did not fit' : `${ms(row.untiled.ms)}, ${fmtBytes(row.untiled.peakBytes)}`;
      const x = row.exact;
      const fx = row.exactAtBlendTile;
      const b = row.blend;
      lines.push(
        `| ${r.adapter} | ${r.preset} | ${row.size.join('x')} | ${u} | ${x.tile} px (${typeof x.staging === 'string' ? x.staging : 'mixed'}, cap ${fmtBytes(x.capBytes)}), ${ms(x.ms)} (+ plan ${ms(x.planMs)}), ${fmtBytes(x.peakBytes)}, ${err(x.maxAbsDiff)} ` +
          `| ${fx.tile} px, ${ms(fx.ms)}, ${fmtBytes(fx.peakBytes)}, ${err(fx.maxAbsDiff)} | ${b.tiles} x ${b.tileLatent} latent px, ${ms(b.ms)}, ${fmtBytes(b.peakBytes)}, ${err(b.maxAbsDiff)} |`,
      );
    }
  }
  writeFileSync(new URL('tiled-decode.md', RESULTS), `${lines.join('\n')}\n`);
}

export async function run(args: Args): Promise<void> {
  const ctx = await acquireNodeDevice();
  const adapter = ctx.report.description || ctx.report.name || 'unknown';
  const cpu = ctx.report.isFallbackAdapter || /swiftshader|llvmpipe/i.test(adapter);
  const presetName = args.str('preset') ?? (cpu ? 'vae-tiny' : 'sd-vae-ft-mse');
  const sizes = (args.str('sizes') ?? (cpu ? '64,128' : '256,512')).split(',').map(Number);
  const images = args.num('images', 1)!;
  const capFraction = args.num('cap-fraction', 0.5)!;
  const seed = args.num('seed', 0)!;
  // Pooling off: peaks are the live bytes each way of decoding needs.
  const rt = GpuRuntime.forDevice(ctx, { pooling: false });
  const vae = new AutoencoderKL(getPreset(presetName).config).materialize(rt, { seed, requiresGrad: false });
  const rows: Row[] = [];
  for (const s of sizes) {
    const t0 = performance.now();
    const row = await measure(rt, vae, [s, s], images, capFraction, seed + 1);
    rows.push(row);
    console.log(`${presetName} ${s}x${s}: ${JSON.stringify(row)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  mkdirSync(RESULTS, { recursive: true });
  const out = { adapter, preset: presetName, images, capFraction, seed, date: new Date().toISOString(), rows };
  writeFileSync(new URL(`tiled-decode-${slug(adapter)}.json`, RESULTS), `${JSON.stringify(out, null, 2)}\n`);
  writeMarkdown();
  vae.dispose();
  rt.destroy();
}
