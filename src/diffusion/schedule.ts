/**
 * The noise schedule LatentSync configures for DDPM training and DDIM sampling: scaled_linear betas from
 * 0.00085 to 0.012 over 1000 steps, epsilon prediction (diffusers' DDPMScheduler / DDIMScheduler math,
 * computed in float64 and handed to kernels as f32 per-sample coefficients).
 */
export interface ScheduleConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: 'scaled_linear' | 'linear';
  predictionType: 'epsilon';
}

export const LATENTSYNC_SCHEDULE: ScheduleConfig = {
  numTrainTimesteps: 1000,
  betaStart: 0.00085,
  betaEnd: 0.012,
  betaSchedule: 'scaled_linear',
  predictionType: 'epsilon',
};

export class NoiseSchedule {
  readonly betas: Float64Array;
  readonly alphasCumprod: Float64Array;

  constructor(readonly config: ScheduleConfig = LATENTSYNC_SCHEDULE) {
    const n = config.numTrainTimesteps;
    this.betas = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const f = n === 1 ? 0 : i / (n - 1);
      this.betas[i] =
        config.betaSchedule === 'scaled_linear'
          ? (Math.sqrt(config.betaStart) + f * (Math.sqrt(config.betaEnd) - Math.sqrt(config.betaStart))) ** 2
          : config.betaStart + f * (config.betaEnd - config.betaStart);
    }
    this.alphasCumprod = new Float64Array(n);
    let prod = 1;
    for (let i = 0; i < n; i++) this.alphasCumprod[i] = prod *= 1 - this.betas[i];
  }

  /** add_noise: x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps; the two coefficients for timestep t. */
  noiseCoefficients(t: number): { signal: number; noise: number } {
    const a = this.alphasCumprod[this.check(t)];
    return { signal: Math.sqrt(a), noise: Math.sqrt(1 - a) };
  }

  /**
   * DDIM timesteps as diffusers' "leading" spacing with steps_offset 1 (LatentSync's scheduler config):
   * step_ratio = 1000 / steps, timesteps = (arange(steps) * step_ratio).round()[::-1] + 1.
   */
  ddimTimesteps(steps: number, stepsOffset = 1): number[] {
    const n = this.config.numTrainTimesteps;
    if (!(steps >= 1 && steps <= n)) throw new RangeError(`DDIM steps must be within 1..${n}, got ${steps}`);
    const ratio = Math.floor(n / steps);
    return Array.from({ length: steps }, (_, i) => (steps - 1 - i) * ratio + stepsOffset);
  }

  /**
   * One DDIM step with eta 0 (deterministic) as coefficients: x_prev = a * x_t + b * eps, where
   * x0 = (x_t - sqrt(1-abar_t) eps) / sqrt(abar_t) and x_prev = sqrt(abar_prev) x0 + sqrt(1-abar_prev) eps.
   */
  ddimStepCoefficients(t: number, prevT: number): { xt: number; eps: number } {
    const at = this.alphasCumprod[this.check(t)];
    // set_alpha_to_one is false in the SD / LatentSync scheduler config: the last step lands on abar_0.
    const ap = prevT >= 0 ? this.alphasCumprod[this.check(prevT)] : this.alphasCumprod[0];
    const x0FromXt = 1 / Math.sqrt(at);
    const x0FromEps = -Math.sqrt(1 - at) / Math.sqrt(at);
    return { xt: Math.sqrt(ap) * x0FromXt, eps: Math.sqrt(ap) * x0FromEps + Math.sqrt(1 - ap) };
  }

  private check(t: number): number {
    if (!Number.isInteger(t) || t < 0 || t >= this.config.numTrainTimesteps) throw new RangeError(`timestep ${t} outside 0..${this.config.numTrainTimesteps - 1}`);
    return t;
  }
}
