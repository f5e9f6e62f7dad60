/**
 * Issue 11's training-step row: one optimizer step of the UNet (forward, MSE loss, backward, clipping,
 * AdamW) with our trainer vs the same network in TensorFlow.js ops (bench/peers/tfjs-unet.ts), at the
 * same preset, batch, frames and resolution, on the same batch. TF.js gets OUR initial weights, and before
 * anything is timed the two are checked against each other: forward output, loss, the gradient of every
 * parameter, and the loss after one optimizer step of each (so the update is the same too).
 *
 * Memory: ours from the ledger (peak held = live + pooled, and peak live); TF.js from its WebGPU buffer
 * manager (bytes in used buffers, and every buffer it has created, its pool included), tracked at every
 * buffer acquire, and tf.profile's peakBytes (the largest tf.memory().numBytes after any kernel).
 * Runs wherever a GpuRuntime and a TF.js backend exist: the Chromium page (WebGPU) and Node (the unit
 * test, with TF.js on its CPU backend).
 */
import * as tf from '@tensorflow/tfjs';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import type { LedgerSnapshot } from '../../src/gpu/memory/ledger.ts';
import { Rng } from '../../src/diffusion/rng.ts';
import { planningClips } from '../../src/train/plan.ts';
import type { UnetBatch } from '../../src/train/sample.ts';
import { UnetTraining } from '../../src/train/unet-training.ts';
import type { TrainConfig } from '../../src/train/config.ts';
import { keep, scope } from '../../src/tensor/scope.ts';
import { noGrad, zeroGrad } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { maxRelError, median, spread } from '../lib/stats.ts';
import { nhwcToNchw } from '../peers/peer.ts';
import { TfjsUnet } from '../peers/tfjs-unet.ts';

export interface TrainStepOptions {
  warmup: number;
  repeats: number;
  /** Scaled max error (max |tf - ours| / max |ours|) within which outputs, losses and gradients agree. */
  tolerance: number;
  log?: (s: string) => void;
}

export interface TrainStepCheck {
  forwardError: number;
  lossOurs: number;
  lossTfjs: number;
  lossError: number;
  /** Worst scaled gradient error over all parameters, and the parameters with the largest errors. */
  gradError: number;
  worstGrads: { name: string; error: number }[];
  gradsChecked: number;
  /** The loss after one optimizer step of each, on the same batch. */
  lossAfterStepOurs: number;
  lossAfterStepTfjs: number;
  lossAfterStepError: number;
  ok: boolean;
}

export interface StepTiming {
  medianMs: number;
  samples: number[];
  spread: number;
  stepsPerSecond: number;
}

export interface TfjsMemory {
  /** Peak of bytes in buffers TF.js is using (its numBytesInGPU), over the timed steps. */
  peakUsedBytes: number | null;
  /** Peak of bytes in every buffer TF.js has created, free ones in its pool included (numBytesAllocatedInGPU). */
  peakAllocatedBytes: number | null;
  /** tf.profile(step).peakBytes: the largest tf.memory().numBytes (live tensor bytes) after any kernel. */
  profilePeakBytes: number | null;
  /** tf.memory() after the timed steps. */
  after: { numBytes: number; numTensors: number; numBytesInGPU?: number; numBytesAllocatedInGPU?: number };
}

export interface TrainStepResult {
  config: TrainConfig;
  shape: UnetBatch['shape'];
  parameters: number;
  parameterBytes: number;
  backend: string;
  check: TrainStepCheck;
  ours: StepTiming & { memory: Pick<LedgerSnapshot, 'peak' | 'peakLive' | 'peakByCategory'>; dispatchesPerStep: number };
  /** kernelsPerStep: TF.js kernels one step runs (tf.profile; reshapes and other views included). */
  tfjs: StepTiming & { memory: TfjsMemory; kernelsPerStep: number | null };
  /** TF.js time / ours: above 1, ours is faster. */
  speedup: number;
}

/** Our folded NCHW forward output of a batch (no tape). */
export async function ourForward(training: UnetTraining, b: UnetBatch): Promise<Float32Array> {
  const rt = training.rt;
  const { n, frames, h, w, tokens, dim } = b.shape;
  const y = noGrad(() =>
    scope(() => {
      const x = Tensor.fromArray(rt, b.input, [n, 13, h, w], 'f32', 'data', 'unet input');
      const t = Tensor.fromArray(rt, b.timesteps, [n], 'f32', 'data', 'timesteps');
      const ctx = Tensor.fromArray(rt, b.audio, [n, tokens, dim], 'f32', 'data', 'audio tokens');
      return keep(training.model.forward(x, t, ctx, frames));
    }),
  );
  const out = await y.toArray();
  y.dispose();
  return out;
}

/** Our loss and every parameter's gradient on one batch, then the gradients are zeroed (nothing updated). */
async function ourGradients(training: UnetTraining, b: UnetBatch): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  const params = [...training.model.namedParameters()];
  const [loss] = training.trainer.accumulate([b]);
  const read = await Tensor.readAll([loss, ...params.map(([, p]) => p.t.grad!)]);
  loss.dispose();
  zeroGrad(params.map(([, p]) => p.t));
  return { loss: read[0][0], grads: new Map(params.map(([name], i) => [name, read[i + 1]])) };
}

/** Tracks the peaks of TF.js's WebGPU buffer manager at every acquire (null on other backends). */
function bufferPeaks(): { reset(): void; read(): { used: number; allocated: number } | null; restore(): void } {
  const bm = (tf.backend() as unknown as { bufferManager?: { numBytesUsed: number; numBytesAllocated: number; acquireBuffer: (...a: unknown[]) => unknown } }).bufferManager;
  if (!bm) return { reset() {}, read: () => null, restore() {} };
  const original = bm.acquireBuffer;
  let used = 0;
  let allocated = 0;
  bm.acquireBuffer = function (this: typeof bm, ...a: unknown[]) {
    const buf = original.apply(this, a);
    used = Math.max(used, bm.numBytesUsed);
    allocated = Math.max(allocated, bm.numBytesAllocated);
    return buf;
  };
  return {
    reset() {
      used = bm.numBytesUsed;
      allocated = bm.numBytesAllocated;
    },
    read: () => ({ used, allocated }),
    restore() {
      bm.acquireBuffer = original;
    },
  };
}

async function timeSteps(step: () => Promise<unknown>, warmup: number, repeats: number): Promise<StepTiming> {
  for (let i = 0; i < warmup; i++) await step();
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await step();
    samples.push(performance.now() - t0);
  }
  const m = median(samples);
  return { medianMs: m, samples, spread: spread(samples), stepsPerSecond: 1000 / m };
}

/**
 * Checks TF.js against ours on one batch, then times `warmup` + `repeats` steps of each (the two check
 * steps come first and warm both up). TF.js's backend must already be set.
 */
export async function runTrainStep(rt: GpuRuntime, config: TrainConfig, opts: TrainStepOptions): Promise<TrainStepResult> {
  const log = opts.log ?? (() => {});
  const training = new UnetTraining(rt, config, planningClips(config));
  const tfModel = await (async () => {
    const params = [...training.model.namedParameters()];
    const data = await Tensor.readAll(params.map(([, p]) => p.t));
    return new TfjsUnet(training.model.config as unknown as Record<string, unknown>, params.map(([name, p], i) => ({ name, shape: p.t.shape, data: data[i] })));
  })();
  try {
    const [batch] = training.nextMicroBatches();
    // The synthetic clips repeat one audio token per frame: identical keys make the cross attention's query
    // gradients zero by symmetry (rounding noise on both sides). Distinct tokens make them worth comparing.
    batch.audio = new Rng(config.seed).normals(batch.audio.length);
    const { n, h, w } = batch.shape;
    const adamw = { lr: config.lr, betas: config.betas, eps: config.eps, weightDecay: config.weightDecay, clipNorm: config.clipNorm };

    // Same function: forward, loss, gradients.
    const yOurs = await ourForward(training, batch);
    const yTf = tf.tidy(() => {
      const { x, t, ctx } = tfModel.inputs(batch);
      return tfModel.forward(x, t, ctx, batch.shape.frames);
    });
    const forwardError = maxRelError(nhwcToNchw((await yTf.data()) as Float32Array, n, 4, h, w), yOurs);
    yTf.dispose();
    const ours = await ourGradients(training, batch);
    const { value, grads } = tfModel.gradients(batch);
    const lossTfjs = (await value.data())[0];
    const gradErrors: { name: string; error: number }[] = [];
    for (const [name, g] of grads) gradErrors.push({ name, error: maxRelError(tfModel.toOurLayout(name, (await g.data()) as Float32Array), ours.grads.get(name)!) });
    tf.dispose([value, ...grads.values()]);
    gradErrors.sort((a, b) => b.error - a.error);
    log(`check: forward ${forwardError.toExponential(2)}, loss ${ours.loss} vs ${lossTfjs}, worst gradient ${gradErrors[0].name} ${gradErrors[0].error.toExponential(2)}`);

    // Same update: one optimizer step each, then the loss of the updated weights on the same batch.
    const first = await training.trainer.trainStep([batch]);
    const [, tfNorm] = await tfModel.trainStep(batch, adamw);
    log(`check: gradient norm ${first.gradNorm} vs ${tfNorm}`);
    const afterOurs = (await training.trainer.trainStep([batch])).loss;
    const [afterTfjs] = await tfModel.trainStep(batch, adamw);
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
    const check: TrainStepCheck = {
      forwardError,
      lossOurs: ours.loss,
      lossTfjs,
      lossError: rel(lossTfjs, ours.loss),
      gradError: gradErrors[0].error,
      worstGrads: gradErrors.slice(0, 3),
      gradsChecked: gradErrors.length,
      lossAfterStepOurs: afterOurs,
      lossAfterStepTfjs: afterTfjs,
      lossAfterStepError: rel(afterTfjs, afterOurs),
      ok: false,
    };
    check.ok = [check.forwardError, check.lossError, check.gradError, check.lossAfterStepError].every((e) => e <= opts.tolerance);
    log(`check: loss after one step ${afterOurs} vs ${afterTfjs}: ${check.ok ? 'same function and update' : 'MISMATCH'}`);

    // Timing and memory: ours, then TF.js, each after its own warm-up.
    rt.ledger.resetPeaks();
    const d0 = rt.dispatches;
    const oursTiming = await timeSteps(() => training.trainer.trainStep([batch]), opts.warmup, opts.repeats);
    const snap = rt.ledger.snapshot();
    const dispatchesPerStep = (rt.dispatches - d0) / (opts.warmup + opts.repeats);
    log(`ours: ${oursTiming.medianMs.toFixed(0)} ms per step, peak held ${snap.peak} B, peak live ${snap.peakLive} B`);
    const peaks = bufferPeaks();
    let tfTiming: StepTiming;
    try {
      for (let i = 0; i < opts.warmup; i++) await tfModel.trainStep(batch, adamw);
      peaks.reset();
      tfTiming = await timeSteps(() => tfModel.trainStep(batch, adamw), 0, opts.repeats);
    } finally {
      peaks.restore();
    }
    const bp = peaks.read();
    const mem = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number; numBytesAllocatedInGPU?: number };
    let profilePeakBytes: number | null = null;
    let kernelsPerStep: number | null = null;
    try {
      const profile = await tf.profile(() => tfModel.trainStep(batch, adamw));
      profilePeakBytes = profile.peakBytes;
      kernelsPerStep = profile.kernels.length;
    } catch (e) {
      log(`tf.profile failed: ${(e as Error).message}`);
    }
    log(`TF.js: ${tfTiming.medianMs.toFixed(0)} ms per step, peak used ${bp?.used} B, peak allocated ${bp?.allocated} B, profile peak ${profilePeakBytes} B`);
    const params = [...training.model.namedParameters()];
    const parameters = params.reduce((s, [, p]) => s + p.t.numel, 0);
    return {
      config,
      shape: batch.shape,
      parameters,
      parameterBytes: parameters * 4,
      backend: tf.getBackend(),
      check,
      ours: { ...oursTiming, dispatchesPerStep, memory: { peak: snap.peak, peakLive: snap.peakLive, peakByCategory: snap.peakByCategory } },
      tfjs: {
        ...tfTiming,
        kernelsPerStep,
        memory: {
          peakUsedBytes: bp?.used ?? null,
          peakAllocatedBytes: bp?.allocated ?? null,
          profilePeakBytes,
          after: { numBytes: mem.numBytes, numTensors: mem.numTensors, numBytesInGPU: mem.numBytesInGPU, numBytesAllocatedInGPU: mem.numBytesAllocatedInGPU },
        },
      },
      speedup: tfTiming.medianMs / oursTiming.medianMs,
    };
  } finally {
    tfModel.dispose();
    training.dispose();
  }
}
