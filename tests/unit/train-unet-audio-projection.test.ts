// A UNet trained on a dataset's log-mel tokens (20 x 80 a frame) learns their projection to its
// cross-attention width with it, and the projection travels in the model's config and state_dict.
import { describe, expect, it } from 'vitest';
import { getPreset, modelFromConfig } from '../../src/nn/presets.ts';
import { DEFAULT_TRAIN, type TrainConfig } from '../../src/train/config.ts';
import { syntheticClips } from '../../src/train/synthetic-data.ts';
import { UnetTraining, unetModelConfig } from '../../src/train/unet-training.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { testRuntime } from '../helpers/gpu.ts';

const logmel = (over: Partial<TrainConfig> = {}): TrainConfig => ({
  ...DEFAULT_TRAIN,
  preset: 'unet-tiny',
  resolution: 16,
  frames: 2,
  audioTokens: 20,
  audioDim: 80,
  vaePreset: 'vae-tiny',
  lr: 1e-3,
  weightDecay: 0,
  ...over,
});

describe('UNet audio projection (log-mel tokens)', { timeout: 600_000 }, () => {
  it('is part of the model only when the tokens are not cross_attention_dim wide', () => {
    expect(unetModelConfig({ preset: 'unet-tiny', audioTokens: 4, audioDim: 16 })).toBe(getPreset('unet-tiny').config);
    const cfg = unetModelConfig({ preset: 'unet-tiny', audioTokens: 20, audioDim: 80 });
    expect(cfg.audio_feature_shape).toEqual([20, 80]);
    const shapes = modelFromConfig(JSON.parse(JSON.stringify(cfg)) as Record<string, unknown>).expectedShapes();
    expect(shapes.get('audio_projection.proj.weight')).toEqual([16, 80]);
    expect(shapes.get('audio_projection.position_embedding')).toEqual([20, 16]);
    expect([...modelFromConfig(getPreset('unet-tiny').config).expectedShapes().keys()].some((k) => k.startsWith('audio_projection'))).toBe(false);
    expect(() => modelFromConfig({ ...getPreset('unet-tiny').config, audio_feature_shape: [20] })).toThrow(/audio_feature_shape/);
  });

  it('trains with the UNet: a step on 20 x 80 tokens updates the projection', async () => {
    const rt = await testRuntime();
    const config = logmel();
    const clips = syntheticClips({ clips: 1, frames: 6, latentChannels: 4, height: 8, width: 8, tokens: 20, dim: 80, seed: 3 });
    const run = new UnetTraining(rt, config, clips);
    const proj = [...run.model.namedParameters()].filter(([n]) => n.startsWith('audio_projection.'));
    expect(proj.map(([n]) => n).sort()).toEqual(['audio_projection.position_embedding', 'audio_projection.proj.bias', 'audio_projection.proj.weight']);
    const before = await Tensor.readAll(proj.map(([, p]) => p.t));
    const r = await run.step();
    expect(Number.isFinite(r.loss)).toBe(true);
    const after = await Tensor.readAll(proj.map(([, p]) => p.t));
    proj.forEach(([name], i) => expect(after[i].some((v, j) => v !== before[i][j]), name).toBe(true));
    run.dispose();
  });
});
