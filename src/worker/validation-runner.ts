/**
 * Validation of one training run in the worker: finds the VAE that decodes its samples, runs validateUnet
 * (DDIM + exact tiled decode inside the budget, ledger phase "validation"), measures the highest held bytes
 * of that one validation, and packs the result as the UI gets it.
 *
 * Which VAE: the host's (the dataset's VAE, loaded by the dataset service) when there is one. Synthetic
 * clips have no real VAE; without the host's, a VAE of the configured preset with seeded weights decodes
 * both the sample and the truth (the decode of the clip's true latents), as the CLI does. A dataset run
 * without its VAE cannot validate: decoding its latents with other weights would measure nothing.
 */
import { getPreset } from '../nn/presets.ts';
import { AutoencoderKL } from '../nn/vae/autoencoder-kl.ts';
import { vaePresetOf } from '../train/config.ts';
import type { UnetTraining } from '../train/unet-training.ts';
import { validateUnet } from '../validate/validation.ts';
import type { TiledReport } from '../validate/tiled-vae.ts';
import { failure } from './api.ts';
import type { TrainValidation, ValidationSettings } from './training-api.ts';
import { validationFrames } from './validation-frames.ts';

export const DEFAULT_VALIDATION: Required<ValidationSettings> = { steps: 20, guidance: 1.5, seed: 7 };

export interface ValidatorOptions {
  /** The host's VAE (the dataset's), or null when none is loaded. */
  vae?: () => AutoencoderKL | null;
  /** The run trains on synthetic clips (a seeded VAE may stand in for a missing one). */
  synthetic: boolean;
  /** The plan's validation-phase peak (null when the run was planned without validation). */
  plannedPeak: number | null;
  /** Sampling used when a validation asks for nothing else. */
  defaults?: ValidationSettings;
}

export class RunValidator {
  private seeded: AutoencoderKL | null = null;

  constructor(
    private readonly run: UnetTraining,
    private readonly opts: ValidatorOptions,
  ) {}

  /** The VAE validation decodes with; a synthetic run without the host's gets a seeded one (allocated once, kept). */
  vae(): AutoencoderKL {
    const host = this.opts.vae?.() ?? null;
    if (host) {
      this.check(host);
      return host;
    }
    if (!this.opts.synthetic)
      throw failure(
        'bad-request',
        'Validation needs the VAE that encoded this dataset, and it is not loaded.',
        'Load the VAE in the Clips panel, or set "Validate every" to 0 and train without validation.',
      );
    this.seeded ??= new AutoencoderKL(getPreset(vaePresetOf(this.run.config)).config).materialize(this.run.rt, { seed: this.run.config.seed });
    return this.seeded;
  }

  /** The sampling a validation with these settings runs; refused with what to change when a value cannot work. */
  sampling(settings: ValidationSettings = {}): Required<ValidationSettings> {
    const s = { ...DEFAULT_VALIDATION, ...definedOnly(this.opts.defaults ?? {}), ...definedOnly(settings) };
    checkSampling(s);
    return s;
  }

  /** Validates the model as it is now; never draws from the training RNG, so a resumed run stays exact. */
  async validate(trigger: TrainValidation['trigger'], settings: ValidationSettings = {}): Promise<TrainValidation> {
    const sampling = this.sampling(settings);
    const vae = this.vae();
    const ledger = this.run.rt.ledger;
    // validateUnet releases the pool's training transients first thing, but inside its phase, where they would
    // count as the phase's peak: release them before, so the "validation" phase holds only what validation does.
    ledger.trim();
    // The highest held bytes of this validation alone (the ledger's phase peak spans the whole run).
    let peak = ledger.held;
    const off = ledger.onEvent((e) => {
      if (e.type === 'alloc' && e.held > peak) peak = e.held;
    });
    let r;
    try {
      r = await validateUnet(this.run, vae, sampling);
    } finally {
      off();
    }
    const clip = this.run.clips[0];
    const [, h, w] = clip.shape;
    const { frames, mouth } = validationFrames(r.reference, r.generated, clip.mask, [h, w]);
    const decode = r.decode as TiledReport | null;
    return {
      step: this.run.trainer.step,
      psnr: r.psnr,
      mouthL1: r.mouthL1,
      ms: r.ms,
      peakBytes: peak,
      budget: ledger.budget,
      plannedPeak: this.opts.plannedPeak,
      trigger,
      reference: clip.pixels ? 'frames' : 'vae-decode',
      vae: vae === this.seeded ? 'seeded' : 'loaded',
      sampling,
      tile: decode?.tile ?? null,
      mouth,
      frames,
    };
  }

  /** Bytes of the host's VAE weights when one is loaded on this runtime (the engine holds them outside training). */
  static hostBytes(vae: AutoencoderKL | null | undefined, rt: UnetTraining['rt']): number {
    if (!vae || vae.decoder.convIn.weight.t.rt !== rt) return 0;
    return vae.parameters().reduce((sum, t) => sum + t.buffer.bytes, 0);
  }

  dispose(): void {
    this.seeded?.dispose();
    this.seeded = null;
  }

  /** A VAE that cannot decode this run's latents is refused with what to do. */
  private check(vae: AutoencoderKL): void {
    if (vae.decoder.convIn.weight.t.rt !== this.run.rt)
      throw failure('training-state', 'The loaded VAE belongs to an earlier GPU device.', 'Load the VAE again in the Clips panel.');
    const channels = this.run.clips[0].shape[0];
    if (vae.config.latent_channels !== channels)
      throw failure('bad-request', `The loaded VAE takes ${vae.config.latent_channels} latent channels; this run's latents have ${channels}.`, 'Load the VAE that encoded the dataset.');
  }
}

function definedOnly(s: ValidationSettings): ValidationSettings {
  return Object.fromEntries(Object.entries(s ?? {}).filter(([, v]) => v !== undefined)) as ValidationSettings;
}

function checkSampling(s: Required<ValidationSettings>): void {
  if (!Number.isInteger(s.steps) || s.steps < 1 || s.steps > 1000)
    throw failure('bad-request', `Validation takes 1 to 1000 DDIM steps, not ${s.steps}.`, 'Use about 20 steps (fewer is faster and rougher).');
  if (!Number.isFinite(s.guidance) || s.guidance < 0)
    throw failure('bad-request', `The guidance scale must be 0 or more, not ${s.guidance}.`, 'Use 1.5 (LatentSync), or 1 to sample without guidance.');
  if (!Number.isInteger(s.seed)) throw failure('bad-request', `The validation seed must be a whole number, not ${s.seed}.`, 'Use any whole number, such as 7.');
}
