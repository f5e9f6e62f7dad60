// Everything lipSync() checks before it touches the GPU: each refusal says what is wrong and what to do.
// No DOM.
import { DEFAULT_MASK, validateMask, type MaskParams } from '../data/mask.ts';
import type { SyncAudioFeatures, SyncFrameSource, SyncModels, SyncOptions } from './api.ts';

/** The options with defaults filled in and the geometry the run needs. */
export interface SyncPlan {
  steps: number;
  guidance: number;
  seed: number;
  mask: MaskParams;
  chunkFrames: number;
  resolution: number;
  /** Latent channels, and the latent map's side (resolution / the VAE's downsampling). */
  channels: number;
  latentSize: number;
  /** VAE downsampling factor (8 for the SD VAE, 2 for vae-tiny). */
  factor: number;
}

export const SYNC_DEFAULTS = { steps: 20, guidance: 1.5, seed: 1247, chunkFrames: 16 } as const;

function refuse(what: string): never {
  throw new Error(`lip sync: ${what}`);
}

const isCount = (v: number) => Number.isInteger(v) && v >= 1;

export function checkSync(models: SyncModels, video: SyncFrameSource, audio: SyncAudioFeatures | null | undefined, opts: SyncOptions): SyncPlan {
  const { unet, vae } = models;
  if (!audio || !(audio.frames >= 1)) refuse('there is no audio: the mouth follows the sound. Give the video an audio track or pass a separate audio file.');
  if (!isCount(video.width) || !isCount(video.height)) refuse(`the video is ${video.width}x${video.height}: frames need a positive integer size`);
  if (!isCount(video.frameCount)) refuse('the video has no frames: give a video with at least one frame of the face');
  if (!opts.sink) refuse('no output sink: pass opts.sink to receive the frames');

  const box = opts.box;
  if (!box || ![box.x, box.y, box.size].every(Number.isInteger) || box.size < 1) refuse(`the face box ${JSON.stringify(box)} must be integers x, y and a positive size`);
  if (box.x < 0 || box.y < 0 || box.x + box.size > video.width || box.y + box.size > video.height) {
    refuse(`the face box (x ${box.x}, y ${box.y}, size ${box.size}) is outside the ${video.width}x${video.height} video: give a square box inside the frame (at most ${Math.min(video.width, video.height)} px)`);
  }

  const steps = opts.steps ?? SYNC_DEFAULTS.steps;
  const guidance = opts.guidance ?? SYNC_DEFAULTS.guidance;
  const chunkFrames = opts.chunkFrames ?? SYNC_DEFAULTS.chunkFrames;
  const mask = opts.mask ?? DEFAULT_MASK;
  if (!isCount(steps) || steps > 1000) refuse(`steps ${steps}: a whole number of DDIM steps from 1 to 1000 (20 is LatentSync's default)`);
  if (!Number.isFinite(guidance) || guidance < 0) refuse(`guidance ${guidance}: a scale of 0 or more (1 turns guidance off, 1.5 is LatentSync's default)`);
  if (!isCount(chunkFrames)) refuse(`chunkFrames ${chunkFrames}: a whole number of frames (16 as LatentSync)`);
  const maskProblem = validateMask(mask);
  if (maskProblem) refuse(maskProblem);

  const vc = vae.config, uc = unet.config;
  const factor = 2 ** (vc.block_out_channels.length - 1);
  const res = opts.resolution;
  if (!isCount(res) || res % factor) refuse(`resolution ${res} px is not a multiple of the VAE's downsampling (${factor}): use the resolution the models were trained at`);
  const latentSize = res / factor;
  const unetDown = 2 ** (uc.block_out_channels.length - 1);
  if (latentSize % unetDown) refuse(`resolution ${res} px gives ${latentSize}x${latentSize} latents, which the UNet's ${unetDown}x downsampling cannot halve evenly: use the resolution the models were trained at (a multiple of ${factor * unetDown})`);
  const channels = vc.latent_channels;
  if (uc.out_channels !== channels || uc.in_channels !== 3 * channels + 1) {
    refuse(`the UNet (in ${uc.in_channels}, out ${uc.out_channels} channels) does not match the VAE's ${channels} latent channels (a lip-sync UNet takes ${3 * channels + 1}: noisy, mask, masked and reference latents): load the VAE the UNet was trained with`);
  }
  const [tokens, dim] = audio.tokenShape;
  // a UNet with an audio projection (config audio_feature_shape) takes its tokens as they were in training
  const projected = (uc as { audio_feature_shape?: readonly [number, number] | null }).audio_feature_shape ?? null;
  const expected = projected ? `[${projected}]` : `${uc.cross_attention_dim} wide tokens`;
  if (!isCount(tokens) || (projected ? tokens !== projected[0] || dim !== projected[1] : dim !== uc.cross_attention_dim)) {
    refuse(`the audio tokens are [${audio.tokenShape}] a frame but the UNet takes ${expected}: compute the audio features the UNet was trained on (its manifest or dataset says which)`);
  }
  return { steps, guidance, seed: opts.seed ?? SYNC_DEFAULTS.seed, mask, chunkFrames, resolution: res, channels, latentSize, factor };
}
