// The dataset's VAE: an AutoencoderKL of a preset with weights from a .safetensors / .pt file (or a
// fresh seeded init), and the demo models' manifest (public/demo/demo-models.json) that names the
// demo VAE. Worker-safe: fetch and crypto.subtle exist in workers and in Node.
import type { GpuRuntime } from '../gpu/runtime.ts';
import { getPreset } from '../nn/presets.ts';
import { describeMismatch, loadStateDict, StateDictMismatchError } from '../nn/state-dict.ts';
import { AutoencoderKL } from '../nn/vae/autoencoder-kl.ts';
import { openWeights } from '../train/checkpoint-export.ts';
import { CheckpointFormatError } from '../io/errors.ts';

/** What the UI shows about the loaded VAE. */
export interface VaeInfo {
  preset: string;
  /** 'file' (weights given), 'demo' (the demo manifest's file), 'init' (seeded, untrained). */
  source: 'file' | 'demo' | 'init';
  /** Names the weights: latents cached under another id are made again. */
  id: string;
  parameters: number;
  /** Pixels per latent (2 for vae-tiny, 8 for sd-vae). */
  factor: number;
  latentChannels: number;
  scalingFactor: number;
}

/** The part of public/demo/demo-models.json the app reads. */
export interface DemoManifest {
  vae: { preset: string; file: string; resolution?: number };
  unet?: { preset: string; file: string; resolution?: number; frames?: number };
  /** Face box and mask the demo models were trained with (informational here). */
  [key: string]: unknown;
}

export class VaeLoadError extends Error {
  constructor(
    message: string,
    readonly action: string,
  ) {
    super(message);
  }
}

/** Builds the preset's VAE and loads the weights into it (strict); null weights give a seeded, untrained one. */
/** The preset gives the shapes; a latent-lab file's own config (its metadata) gives what training set, such as scaling_factor. */
export async function buildVae(rt: GpuRuntime, preset: string, weights: ArrayBuffer | null, source: VaeInfo['source'] = 'file'): Promise<{ vae: AutoencoderKL; info: VaeInfo }> {
  let p;
  try {
    p = getPreset(preset);
  } catch {
    throw new VaeLoadError(`There is no VAE preset "${preset}".`, 'Choose vae-tiny or sd-vae-ft-mse.');
  }
  if (p.kind !== 'vae') throw new VaeLoadError(`${preset} is a UNet preset, not a VAE.`, 'Choose vae-tiny or sd-vae-ft-mse.');
  let vae: AutoencoderKL | null = null;
  let id: string;
  try {
    if (weights) {
      const file = await openWeights(new Uint8Array(weights));
      vae = new AutoencoderKL({ ...p.config, scaling_factor: fileScalingFactor(file.metadata) ?? p.config.scaling_factor });
      await loadStateDict(vae, rt, file, { requiresGrad: false });
      id = `vae:${preset}:${await digest(weights)}`;
    } else {
      vae = new AutoencoderKL(p.config).materialize(rt, { seed: 0, requiresGrad: false });
      id = `vae:${preset}:init-seed-0`;
    }
  } catch (e) {
    vae?.dispose();
    if (e instanceof StateDictMismatchError)
      throw new VaeLoadError(`These weights are not a ${preset} VAE (${e.report.matched.length} tensors match).`, `Load a ${preset} checkpoint, or pick the preset the file was trained as.\n${describeMismatch(e.report)}`);
    if (e instanceof CheckpointFormatError)
      throw new VaeLoadError(`The VAE file could not be read: ${e.message}.`, 'Load a .safetensors or PyTorch .pt file of the VAE.');
    throw e;
  }
  const c = vae.config;
  return {
    vae,
    info: { preset, source, id, parameters: vae.parameterCount(), factor: 2 ** (c.block_out_channels.length - 1), latentChannels: c.latent_channels, scalingFactor: vae.scalingFactor },
  };
}

/** The scaling_factor in a latent-lab file's config metadata (null when the file has none). */
function fileScalingFactor(metadata: Record<string, string> | undefined): number | null {
  try {
    const f = Number(JSON.parse(metadata?.config ?? 'null')?.scaling_factor);
    return Number.isFinite(f) && f > 0 ? f : null;
  } catch {
    return null;
  }
}

/**
 * Reads the demo manifest at `url` and fetches the VAE file it names: paths in the manifest are relative to
 * the app root ("demo/demo-vae.safetensors"), or to the manifest itself.
 */
export async function fetchDemoVae(url: string): Promise<{ manifest: DemoManifest; weights: ArrayBuffer }> {
  const manifest = (await fetchOk(url, 'the demo models manifest').then((r) => r.json())) as DemoManifest;
  if (!manifest?.vae?.file || !manifest.vae.preset) throw new VaeLoadError(`The demo models manifest at ${url} names no VAE.`, 'Rebuild public/demo with tools/demo/train-demo-models.ts.');
  const beside = new URL(manifest.vae.file.split('/').pop()!, url).href;
  const fromRoot = new URL(manifest.vae.file, new URL('..', url)).href;
  const r = await fetch(beside).catch(() => null);
  // A single-page server answers a missing path with its index.html: that is not the file either.
  const found = r?.ok && !/text\/html/.test(r.headers.get('content-type') ?? '');
  const weights = await (found ? r : await fetchOk(fromRoot, 'the demo VAE')).arrayBuffer();
  return { manifest, weights };
}

async function fetchOk(url: string, what: string): Promise<Response> {
  let r: Response;
  try {
    r = await fetch(url);
  } catch (e) {
    throw new VaeLoadError(`Could not fetch ${what} (${url}): ${(e as Error).message}.`, 'Check that the app is served with its public/demo folder, then try again.');
  }
  if (!r.ok) throw new VaeLoadError(`Could not fetch ${what} (${url}): HTTP ${r.status}.`, 'The demo models are not in this build: load a VAE file instead.');
  return r;
}

/** First 16 hex digits of the SHA-256 of the weights: the cache id of the latents they make. */
async function digest(bytes: ArrayBuffer): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(h.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join('');
}
