import type { GpuRuntime } from '../gpu/runtime.ts';
import type { Module, Parameter } from '../nn/module.ts';
import { cast } from '../tensor/ops/cast.ts';
import { full, scaleInPlace } from '../tensor/ops/fill.ts';
import { keep, scope } from '../tensor/scope.ts';
import { backward, noGrad, zeroGrad } from '../tensor/tape.ts';
import { Tensor } from '../tensor/tensor.ts';
import type { DType } from '../tensor/dtype.ts';
import { LossScaler, type LossScalerState } from './loss-scaler.ts';
import { Optimizer } from './optimizer.ts';

/** What is trained and how one micro-batch becomes a loss. */
export interface LossTask<B> {
  model: Module;
  /** The micro-batch's mean loss ([1]), recorded on the tape. */
  loss(batch: B): Tensor;
}

export interface TrainerOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  clipNorm: number | null;
  /** f16 activations: the loss is scaled dynamically so small values survive half precision. */
  precision: DType;
  /** The forward reads an f16 copy of the weights; gradients and master weights stay f32. */
  halfWeightCopy: boolean;
}

export interface StepResult {
  step: number;
  loss: number;
  /** True when the gradients overflowed and the update was skipped (loss scaling backs off). */
  skipped: boolean;
  gradNorm: number;
  lossScale: number;
}

export interface TrainerState {
  step: number;
  scaler: LossScalerState;
}

/**
 * One optimizer step = forward and backward over each micro-batch (gradients accumulate), then unscale,
 * clip, AdamW and zero. Everything runs inside ledger phases ("train-step", "optimizer") so that the plan
 * and the UI see where memory goes. The same code runs on the meta device for planning.
 */
export class Trainer<B> {
  step = 0;
  readonly scaler: LossScaler;
  readonly optimizer: Optimizer;
  private readonly params: Parameter[];
  /** With halfWeightCopy: the f32 master weights; the model's parameters hold the f16 copies the forward reads. */
  private readonly masters: Tensor[] | null;

  constructor(
    readonly rt: GpuRuntime,
    readonly task: LossTask<B>,
    readonly opts: TrainerOptions,
  ) {
    // Frozen parameters (requiresGrad false: a fine-tune of part of a model) are neither updated nor given state.
    this.params = [...task.model.namedParameters()].map(([, p]) => p).filter((p) => p.t.requiresGrad);
    this.scaler = new LossScaler(opts.precision === 'f16' ? 2 ** 16 : 1, opts.precision === 'f16' ? 2000 : Number.POSITIVE_INFINITY);
    this.masters = opts.halfWeightCopy ? this.params.map((p) => keep(p.t)) : null;
    if (this.masters) this.refreshCopies();
    this.optimizer = new Optimizer(rt, this.masters ?? this.params.map((p) => p.t), opts);
  }

  get state(): TrainerState {
    return { step: this.step, scaler: { ...this.scaler.state } };
  }

  restore(s: TrainerState): void {
    this.step = s.step;
    this.scaler.state = { ...s.scaler };
  }

  dispose(): void {
    this.optimizer.dispose();
    this.masters?.forEach((m) => m.dispose());
  }

  /** The f32 weights the optimizer updates (the model's own parameters in f32 runs). */
  masterWeights(): Tensor[] {
    return this.masters ?? this.params.map((p) => p.t);
  }

  async trainStep(microBatches: readonly B[]): Promise<StepResult> {
    if (microBatches.length === 0) throw new Error('trainStep needs at least one micro-batch');
    const { rt } = this;
    const ledger = rt.ledger;
    const lossScale = this.scaler.scale;
    const losses = await ledger.inPhase('train-step', () => this.accumulate(microBatches, lossScale));
    const grads = this.params.map((p) => p.t.grad);
    if (grads.some((g) => !g)) throw new Error('some parameters received no gradient: is every parameter used by the loss?');
    const { finite, norm } = await ledger.inPhase('optimizer', () => {
      if (lossScale !== 1) this.unscale(1 / lossScale);
      return this.optimizer.update(grads as Tensor[], this.opts.clipNorm);
    });
    const read = await Tensor.readAll([...losses, finite, norm]);
    [...losses, finite, norm].forEach((t) => t.dispose());
    zeroGrad(this.params.map((p) => p.t));
    // The meta device reads zeros: a plan assumes the update is applied, as it nearly always is.
    const applied = this.scaler.update(rt.isMeta || read[losses.length][0] === 1);
    if (applied) {
      this.step++;
      if (this.masters) this.refreshCopies();
    }
    const lossValues = read.slice(0, losses.length);
    const gradNorm = read[losses.length + 1][0];
    const loss = lossValues.reduce((a, v) => a + v[0], 0) / lossValues.length;
    return { step: this.step, loss, skipped: !applied, gradNorm, lossScale };
  }

  /**
   * Forward and backward over each micro-batch; gradients accumulate in the parameters' .grad, each
   * micro-batch weighted 1/count so the sum is the mean over the whole batch. Returns the losses ([1] each).
   */
  accumulate(microBatches: readonly B[], lossScale = 1): Tensor[] {
    return microBatches.map((mb) =>
      scope(() => {
        const loss = this.task.loss(mb);
        backward(loss, full(this.rt, loss.shape, lossScale / microBatches.length, 'activations', 'loss seed'));
        return keep(loss.alias());
      }),
    );
  }

  private unscale(factor: number): void {
    for (const p of this.params) scaleInPlace(p.t.grad!, factor);
  }

  /** halfWeightCopy: the model's parameters become fresh f16 copies of the master weights (leaves with grads). */
  private refreshCopies(): void {
    noGrad(() =>
      this.params.forEach((p, i) => {
        const master = this.masters![i];
        const copy = keep(scope(() => cast(master, 'f16', 'weights')));
        copy.requiresGrad = true;
        const old = p.tensor;
        p.tensor = copy;
        if (old && old !== master) {
          copy.grad = old.grad; // the accumulated-gradient buffer carries over (it was zeroed)
          old.grad = null;
          old.dispose();
        }
      }),
    );
  }
}
