// The UNet and VAE a lip-sync run takes, built from weight files: the model's config comes from the file's
// own metadata (latent-lab exports write it: the demo VAE's scaling factor lives there) or from a preset,
// and the weights load strictly (a file of another model is refused with the mismatch).
// No DOM: takes files already opened (src/train/checkpoint-export.ts openWeights), in the worker or in Node.
import type { GpuRuntime } from '../gpu/runtime.ts';
import { getPreset, modelFromConfig } from '../nn/presets.ts';
import { describeMismatch, loadStateDict, StateDictMismatchError } from '../nn/state-dict.ts';
import { UNet3DConditionModel } from '../nn/unet/unet-3d-condition.ts';
import { AutoencoderKL } from '../nn/vae/autoencoder-kl.ts';
import type { WeightsBlob } from '../train/checkpoint-export.ts';
import type { SyncModels } from './api.ts';

export interface SyncModelFiles {
  unet: WeightsBlob;
  vae: WeightsBlob;
}

export interface SyncModelOptions {
  /** Presets for files whose metadata carries no config (a LatentSync .pt, a diffusers VAE); a file's own config wins. */
  unetPreset?: string;
  vaePreset?: string;
  /** Overrides the VAE config's scaling_factor (a manifest's value for a file without a config). */
  scalingFactor?: number;
}

/** The config a file was exported with (it knows the model exactly), else the preset's; says what to pass when there is neither. */
function configFor(file: WeightsBlob, kind: 'unet' | 'vae', preset: string | undefined, what: string): Record<string, unknown> {
  const meta = file.metadata.config;
  if (meta) {
    try {
      return JSON.parse(meta) as Record<string, unknown>;
    } catch {
      if (!preset) throw new Error(`lip sync: the ${what} file's config metadata is not JSON: name its preset instead`);
    }
  }
  if (preset) {
    const p = getPreset(preset);
    if (p.kind !== kind) throw new Error(`lip sync: preset ${preset} is a ${p.kind}, not a ${kind === 'unet' ? 'UNet' : 'VAE'} (for ${what})`);
    return p.config;
  }
  throw new Error(`lip sync: the ${what} file carries no model config: name its preset (e.g. ${kind === 'unet' ? 'unet-tiny, latentsync-stage1-256' : 'vae-tiny, sd-vae-ft-mse'})`);
}

async function load<T extends UNet3DConditionModel | AutoencoderKL>(rt: GpuRuntime, model: T, file: WeightsBlob, what: string): Promise<T> {
  try {
    await loadStateDict(model, rt, file, { requiresGrad: false });
    return model;
  } catch (e) {
    model.dispose();
    if (e instanceof StateDictMismatchError) throw new Error(`lip sync: the ${what} file does not fit the model it should load into: ${describeMismatch(e.report)}. Name the preset it was trained as.`);
    throw e;
  }
}

export async function loadSyncModels(rt: GpuRuntime, files: SyncModelFiles, opts: SyncModelOptions = {}): Promise<SyncModels> {
  const unetConfig = configFor(files.unet, 'unet', opts.unetPreset, 'UNet');
  const vaeConfig = { ...configFor(files.vae, 'vae', opts.vaePreset, 'VAE') };
  if (opts.scalingFactor !== undefined) vaeConfig.scaling_factor = opts.scalingFactor;
  const unet = modelFromConfig(unetConfig);
  const vae = modelFromConfig(vaeConfig);
  if (!(unet instanceof UNet3DConditionModel)) throw new Error('lip sync: the UNet file holds a VAE config: pass the UNet file as the UNet');
  if (!(vae instanceof AutoencoderKL)) throw new Error('lip sync: the VAE file holds a UNet config: pass the VAE file as the VAE');
  const u = await load(rt, unet, files.unet, 'UNet');
  try {
    return { unet: u, vae: await load(rt, vae, files.vae, 'VAE') };
  } catch (e) {
    u.dispose();
    throw e;
  }
}
