import { parseBytes, fmtBytes } from '../../gpu/memory/bytes.ts';
import { acquireNodeDevice } from '../../gpu/node-gpu.ts';
import { GpuRuntime } from '../../gpu/runtime.ts';
import { getPreset } from '../../nn/presets.ts';
import { AutoencoderKL } from '../../nn/vae/autoencoder-kl.ts';
import { Tensor } from '../../tensor/tensor.ts';
import { compareDecode, seededLatents } from '../../validate/decode-compare.ts';
import type { Staging } from '../../validate/tiled-vae.ts';
import type { Args } from '../args.ts';

export const help =
  'exact tiled VAE decode of seeded latents: --preset VAE --size H W [--tile T] [--cap BYTES] [--budget BYTES] [--staging gpu|host] [--images N] [--seed S] [--compare-untiled] [--json]';

function fail(what: string): never {
  throw new Error(`decode: ${what}`);
}

/** "--size H W" (W lands among the positionals), "--size HxW" or "--size N" (square). */
function imageSize(args: Args): [number, number] {
  const raw = args.str('size') ?? fail('--size H W is required (image pixels)');
  const parts = raw.split(/[x,]/).map(Number);
  const w = parts.length > 1 ? parts[1] : args.positional.length ? Number(args.positional[0]) : parts[0];
  const size: [number, number] = [parts[0], w];
  if (!size.every((v) => Number.isInteger(v) && v > 0)) fail(`--size ${raw} ${args.positional.join(' ')}: two positive integers`);
  return size;
}

export async function run(args: Args): Promise<void> {
  const presetName = args.str('preset') ?? fail('--preset VAE is required (e.g. sd-vae-ft-mse, vae-tiny)');
  const preset = getPreset(presetName);
  if (preset.kind !== 'vae') fail(`preset ${presetName} is not a VAE`);
  const [H, W] = imageSize(args);
  const seed = args.num('seed', 0)!;
  const images = args.num('images', 1)!;
  const tile = args.num('tile');
  const staging = args.str('staging') as Staging | undefined;
  if (staging !== undefined && staging !== 'gpu' && staging !== 'host') fail(`--staging ${staging}: gpu or host`);
  const capArg = args.str('cap');
  const capBytes = capArg ? parseBytes(capArg) : Number.POSITIVE_INFINITY;

  // Pooling off: every peak is the live bytes a run needs, for the tiled and the untiled decode alike.
  const budgetArg = args.str('budget');
  const rt = GpuRuntime.forDevice(await acquireNodeDevice(), { pooling: false, budget: budgetArg ? parseBytes(budgetArg) : undefined });
  const vae = new AutoencoderKL(preset.config).materialize(rt, { seed, requiresGrad: false });
  const factor = 2 ** (vae.config.block_out_channels.length - 1);
  if (H % factor || W % factor) fail(`--size ${H} ${W} is not a multiple of the VAE's downscale factor ${factor}`);
  const shape = [images, vae.config.latent_channels, H / factor, W / factor];
  const latents = Tensor.fromArray(rt, seededLatents(shape.reduce((a, b) => a * b, 1), seed + 1), shape, 'f32', 'data', 'latents');

  const cmp = await compareDecode(rt, vae, latents, { capBytes, tile, staging, compareUntiled: args.bool('compare-untiled') });
  const out = {
    preset: presetName,
    adapter: rt.ctx?.report.description || rt.ctx?.report.name,
    size: [H, W],
    latents: shape,
    seed,
    capBytes: Number.isFinite(capBytes) ? capBytes : null,
    tiled: cmp.tiled,
    untiled: cmp.untiled,
    maxAbsDiff: cmp.maxAbsDiff,
  };
  if (args.bool('json')) console.log(JSON.stringify(out, null, 2));
  else {
    const t = cmp.tiled;
    console.log(`${presetName} decode of latents [${shape}] -> ${H}x${W} images`);
    console.log(`  tiled    tile ${t.tile}, staging ${JSON.stringify(t.staging)}: peak ${fmtBytes(t.peakBytes)}${t.plannedPeakBytes !== null ? ` (planned ${fmtBytes(t.plannedPeakBytes)})` : ''}, ${t.ms.toFixed(0)} ms, ${t.tiles} tiles`);
    const u = cmp.untiled;
    if (u && 'skipped' in u) console.log(`  untiled  did not fit: ${u.skipped}`);
    else if (u) console.log(`  untiled  peak ${fmtBytes(u.peakBytes)}, ${u.ms.toFixed(0)} ms`);
    if (cmp.maxAbsDiff !== null) console.log(`  max |tiled - untiled| = ${cmp.maxAbsDiff.toExponential(2)}`);
  }
  vae.dispose();
  rt.destroy();
}
