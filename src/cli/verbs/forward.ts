import { readFileSync, writeFileSync } from 'node:fs';
import { acquireNodeDevice } from '../../gpu/node-gpu.ts';
import { GpuRuntime } from '../../gpu/runtime.ts';
import type { TensorData } from '../../io/dtype.ts';
import { readSafetensors, writeSafetensors } from '../../io/safetensors.ts';
import { floatValues } from '../../nn/host-values.ts';
import { importRuleOf, modelFromConfig } from '../../nn/presets.ts';
import { loadStateDict } from '../../nn/state-dict.ts';
import { foldFrames, unfoldFrames } from '../../nn/unet/frames.ts';
import { UNet3DConditionModel } from '../../nn/unet/unet-3d-condition.ts';
import type { AutoencoderKL } from '../../nn/vae/autoencoder-kl.ts';
import type { DType } from '../../tensor/dtype.ts';
import { scope } from '../../tensor/scope.ts';
import { noGrad } from '../../tensor/tape.ts';
import { Tensor } from '../../tensor/tensor.ts';
import type { Args } from '../args.ts';
import { openWeightsFile } from '../weights-file.ts';

export const help =
  'runs a UNet forward or a VAE encode/decode on tensors from a file: --config C.json --weights W --inputs X.safetensors --out Y.safetensors [--dtype f32|f16] [--frames F]';

type Outputs = Map<string, TensorData>;
const f32 = (shape: readonly number[], data: Float32Array): TensorData => ({ dtype: 'F32', shape, data });

/**
 * UNet: `sample` [B, C, F, H, W] (LatentSync's layout; output in the same layout) or [N, C, H, W] (with
 * --frames F when N holds F frames per sample), `timestep` [B] or [N] (integer or float),
 * `encoder_hidden_states` [B, F, T, D] or [N, T, D] -> `sample`.
 */
async function unetForward(rt: GpuRuntime, model: UNet3DConditionModel, inputs: Map<string, TensorData>, framesFlag: number): Promise<Outputs> {
  const need = (n: string) => inputs.get(n) ?? fail(`the inputs file has no "${n}" (a UNet needs sample, timestep and encoder_hidden_states)`);
  const sample = need('sample');
  const timestep = floatValues(need('timestep'), 'timestep');
  const ehs = inputs.get('encoder_hidden_states');
  const five = sample.shape.length === 5;
  if (!five && sample.shape.length !== 4) fail(`sample has shape [${sample.shape}]; expected [B, C, F, H, W] or [N, C, H, W]`);
  const [b, c, f, h, w] = five ? sample.shape : [sample.shape[0] / framesFlag, sample.shape[1], framesFlag, sample.shape[2], sample.shape[3]];
  if (!Number.isInteger(b)) fail(`${sample.shape[0]} images do not make samples of ${framesFlag} frames`);
  const n = b * f;
  const x = five ? foldFrames(floatValues(sample), sample.shape) : floatValues(sample);
  let context: Float32Array | null = null;
  let ctxShape: number[] = [];
  if (ehs) {
    const s = ehs.shape;
    if (s.length === 4 && s[0] * s[1] === n) ctxShape = [n, s[2], s[3]];
    else if (s.length === 3 && s[0] === n) ctxShape = [...s];
    else fail(`encoder_hidden_states [${s}] needs [${b}, ${f}, T, D] or [${n}, T, D]`);
    context = floatValues(ehs);
  }
  const outC = model.config.out_channels;
  const y = await scope(() =>
    noGrad(() =>
      model.forward(
        Tensor.fromArray(rt, x, [n, c, h, w]),
        Tensor.fromArray(rt, timestep, [timestep.length]),
        context ? Tensor.fromArray(rt, context, ctxShape) : null,
        f,
      ),
    ),
  ).toArray();
  return new Map([['sample', five ? f32([b, outC, f, h, w], unfoldFrames(y, [b, outC, f, h, w])) : f32([n, outC, h, w], y)]]);
}

/** VAE: `images` -> `mean`, `logvar` (before scaling_factor); `latents` -> `sample`. Either or both. */
async function vaeForward(rt: GpuRuntime, model: AutoencoderKL, inputs: Map<string, TensorData>): Promise<Outputs> {
  const out: Outputs = new Map();
  const images = inputs.get('images');
  const latents = inputs.get('latents');
  if (!images && !latents) fail('the inputs file has neither "images" (encode) nor "latents" (decode)');
  if (images) {
    const { mean, logvar } = scope(() => noGrad(() => model.encode(Tensor.fromArray(rt, floatValues(images), images.shape))));
    out.set('mean', f32(mean.shape, await mean.toArray()));
    out.set('logvar', f32(logvar.shape, await logvar.toArray()));
  }
  if (latents) {
    const s = scope(() => noGrad(() => model.decode(Tensor.fromArray(rt, floatValues(latents), latents.shape))));
    out.set('sample', f32(s.shape, await s.toArray()));
  }
  return out;
}

function fail(what: string): never {
  throw new Error(`forward: ${what}`);
}

export async function run(args: Args): Promise<void> {
  const configPath = args.str('config') ?? fail('--config CONFIG.json is required');
  const weightsPath = args.str('weights') ?? fail('--weights FILE (.safetensors or .pt) is required');
  const inputsPath = args.str('inputs') ?? fail('--inputs X.safetensors is required');
  const outPath = args.str('out') ?? fail('--out Y.safetensors is required');
  const dtype = (args.str('dtype') ?? 'f32') as DType;
  if (dtype !== 'f32' && dtype !== 'f16') fail(`--dtype ${dtype}: f32 or f16`);

  const model = modelFromConfig(JSON.parse(readFileSync(configPath, 'utf8')), { activationDtype: dtype });
  const file = await openWeightsFile(weightsPath);
  const rt = GpuRuntime.forDevice(await acquireNodeDevice());
  const report = await loadStateDict(model, rt, file, { dtype, rule: importRuleOf(model), requiresGrad: false });
  if (report.renamed.length) console.error(`forward: ${report.renamed.length} tensors renamed on import (old attention spelling)`);
  const inputs = readSafetensors(readFileSync(inputsPath)).tensors;
  const t0 = performance.now();
  const out = model instanceof UNet3DConditionModel ? await unetForward(rt, model, inputs, args.num('frames', 1)!) : await vaeForward(rt, model, inputs);
  writeFileSync(outPath, writeSafetensors(out, { config: JSON.stringify(model.config), dtype }));
  console.error(`forward: wrote ${[...out.keys()].join(', ')} to ${outPath} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  model.dispose();
  rt.destroy();
}
