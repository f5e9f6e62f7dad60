import type { UNet3DConditionModel } from '../nn/unet/unet-3d-condition.ts';
import { addScaled } from '../tensor/ops/add.ts';
import { concat } from '../tensor/ops/concat.ts';
import { full } from '../tensor/ops/fill.ts';
import { scale } from '../tensor/ops/scale.ts';
import { keep, scope } from '../tensor/scope.ts';
import { noGrad } from '../tensor/tape.ts';
import { Tensor } from '../tensor/tensor.ts';
import type { NoiseSchedule } from './schedule.ts';

/** LatentSync's conditioning for one chunk of frames, at latent size, on the GPU. */
export interface SyncConditioning {
  /** [N, 1, h, w]: 1 keeps the frame (upper face), 0 is generated (mouth). */
  mask: Tensor;
  /** [N, 4, h, w]: latents of the masked frames. */
  maskedLatents: Tensor;
  /** [N, 4, h, w]: latents of the reference frames. */
  refLatents: Tensor;
  /** [N, T, D]: each frame's audio tokens. */
  audio: Tensor;
  /** Frames per sample (the UNet's GroupNorms pool over them). */
  frames: number;
}

export interface DdimOptions {
  steps?: number;
  /** Classifier-free guidance with zero audio as the null condition; 1 turns it off (one UNet pass a step). */
  guidance?: number;
}

/**
 * DDIM (eta 0) as LatentSync's pipeline runs it: start from `noise` ([N, 4, h, w]: the caller shares one noise
 * tensor across the frames of a chunk), and at each step predict epsilon from (x_t, mask, masked latents,
 * reference latents), guided by eps_null + g * (eps_audio - eps_null). Returns the final latents.
 * Nothing is recorded (no autograd) and each step's temporaries are freed before the next.
 */
export function ddimSample(unet: UNet3DConditionModel, schedule: NoiseSchedule, cond: SyncConditioning, noise: Tensor, opts: DdimOptions = {}): Tensor {
  const steps = opts.steps ?? 20;
  const g = opts.guidance ?? 1.5;
  const ts = schedule.ddimTimesteps(steps);
  const ratio = Math.floor(schedule.config.numTrainTimesteps / steps);
  return noGrad(() => {
    const nullAudio = g !== 1 ? keep(full(noise.rt, cond.audio.shape, 0, 'validation', 'null audio')) : null;
    let x = keep(noise.alias());
    try {
      for (const t of ts) {
        const next = ddimStep(unet, schedule, cond, x, t, t - ratio, nullAudio, g);
        x.dispose();
        x = keep(next);
      }
      return x;
    } finally {
      nullAudio?.dispose();
    }
  });
}

/**
 * One DDIM step from timestep t to prevT (no autograd): x_t -> x_prevT, guided as ddimSample guides. `nullAudio`
 * (zeros shaped like cond.audio) is the unconditional input, null when g is 1. Returns a new tensor; x stays.
 * Exported for callers that step with awaits in between (src/sync: cancel between steps).
 */
export function ddimStep(unet: UNet3DConditionModel, schedule: NoiseSchedule, cond: SyncConditioning, x: Tensor, t: number, prevT: number, nullAudio: Tensor | null, g: number): Tensor {
  return noGrad(() =>
    scope(() => {
      const n = x.shape[0];
      const input = concat([x, cond.mask, cond.maskedLatents, cond.refLatents], 1);
      const tt = full(x.rt, [n], t, 'validation', 'timestep');
      const epsAudio = unet.forward(input, tt, cond.audio, cond.frames);
      const eps = nullAudio ? addScaled(scale(unet.forward(input, tt, nullAudio, cond.frames), 1 - g), epsAudio, g) : epsAudio;
      const c = schedule.ddimStepCoefficients(t, prevT);
      return addScaled(scale(x, c.xt), eps, c.eps);
    }),
  );
}

/** One noise draw per chunk, repeated over its frames, as LatentSync's inference does. */
export function sharedNoise(rt: Tensor['rt'], values: Float32Array, frames: number, shape: readonly [number, number, number]): Tensor {
  const per = shape[0] * shape[1] * shape[2];
  if (values.length !== per) throw new Error(`shared noise: ${values.length} values for one frame of [${shape}]`);
  const all = new Float32Array(per * frames);
  for (let f = 0; f < frames; f++) all.set(values, f * per);
  return Tensor.fromArray(rt, all, [frames, ...shape], 'f32', 'validation', 'initial noise');
}
