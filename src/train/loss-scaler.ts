/**
 * Dynamic loss scaling for f16 activations: the loss is multiplied by `scale` before backward so small
 * gradients survive half precision; when any gradient overflows, the step is skipped and the scale halves;
 * after `growthInterval` clean steps it doubles (torch.cuda.amp.GradScaler's policy).
 */
export interface LossScalerState {
  scale: number;
  cleanSteps: number;
  skipped: number;
}

export class LossScaler {
  state: LossScalerState;

  constructor(
    initialScale = 2 ** 16,
    readonly growthInterval = 2000,
    readonly backoff = 0.5,
    readonly growth = 2,
    readonly minScale = 1,
  ) {
    this.state = { scale: initialScale, cleanSteps: 0, skipped: 0 };
  }

  get scale(): number {
    return this.state.scale;
  }

  /** Records whether this step's gradients were finite; returns true when the optimizer step should run. */
  update(finite: boolean): boolean {
    const s = this.state;
    if (!finite) {
      s.scale = Math.max(this.minScale, s.scale * this.backoff);
      s.cleanSteps = 0;
      s.skipped++;
      return false;
    }
    if (++s.cleanSteps >= this.growthInterval) {
      s.scale *= this.growth;
      s.cleanSteps = 0;
    }
    return true;
  }
}
