import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/diffusion/rng.ts';
import { NoiseSchedule } from '../../src/diffusion/schedule.ts';
import { LossScaler } from '../../src/train/loss-scaler.ts';
import { buildUnetBatch, pickWindow } from '../../src/train/sample.ts';
import { syntheticClips } from '../../src/train/synthetic-data.ts';

const spec = { clips: 2, frames: 20, latentChannels: 4, height: 4, width: 6, tokens: 3, dim: 5, seed: 7 };

describe('LatentSync batch assembly', () => {
  it('lays out noisy latents, mask, masked latents and reference latents as 13 channels', () => {
    const clips = syntheticClips(spec);
    const schedule = new NoiseSchedule();
    const picks = [pickWindow(new Rng(1), 0, 20, 3), pickWindow(new Rng(2), 1, 20, 3)];
    const batch = buildUnetBatch(clips, picks, 3, schedule, new Rng(9));
    const hw = 24;
    const per = 4 * hw;
    expect(batch.shape).toEqual({ n: 6, frames: 3, h: 4, w: 6, tokens: 3, dim: 5 });
    expect(batch.input.length).toBe(6 * 13 * hw);
    for (let i = 0; i < 6; i++) {
      const b = Math.floor(i / 3);
      const f = picks[b].start + (i % 3);
      const clip = clips[picks[b].clip];
      const row = batch.input.subarray(i * 13 * hw, (i + 1) * 13 * hw);
      const { signal, noise } = schedule.noiseCoefficients(batch.timesteps[i]);
      const eps = batch.target.subarray(i * per, (i + 1) * per);
      const x0 = clip.latents(f);
      for (let k = 0; k < per; k++) expect(row[k]).toBeCloseTo(signal * x0[k] + noise * eps[k], 5);
      expect([...row.subarray(per, per + hw)]).toEqual([...clip.mask]);
      expect([...row.subarray(per + hw, 2 * per + hw)]).toEqual([...clip.maskedLatents(f)]);
      expect([...row.subarray(2 * per + hw)]).toEqual([...clip.latents(picks[b].refStart + (i % 3))]);
      expect(batch.timesteps[i]).toBe(batch.timesteps[b * 3]);
      expect([...batch.audio.subarray(i * 15, (i + 1) * 15)]).toEqual([...clip.audio(f)!]);
    }
  });

  it('takes the reference window from elsewhere in the clip', () => {
    const rng = new Rng(3);
    for (let k = 0; k < 200; k++) {
      const p = pickWindow(rng, 0, 60, 16);
      expect(p.start + 16).toBeLessThanOrEqual(60);
      expect(Math.abs(p.refStart - p.start)).toBeGreaterThanOrEqual(16);
    }
    expect(() => pickWindow(rng, 0, 10, 16)).toThrow(/needs 16/);
  });

  it('audio dropout zeroes whole samples (all their frames) at about the asked rate, and leaves the rest as they were', () => {
    const clips = syntheticClips(spec);
    const schedule = new NoiseSchedule();
    const picks = Array.from({ length: 400 }, (_, k) => ({ clip: k % 2, start: k % 17, refStart: 17 - (k % 17) }));
    const plain = buildUnetBatch(clips, picks, 2, schedule, new Rng(5));
    const dropped = buildUnetBatch(clips, picks, 2, schedule, new Rng(5), null, 0.25);
    const per = 2 * 15; // two frames of 3 x 5 tokens
    let zeroed = 0;
    picks.forEach((_, b) => {
      const d = dropped.audio.subarray(b * per, (b + 1) * per);
      if (d.every((v) => v === 0)) zeroed++;
      else expect([...d]).toEqual([...plain.audio.subarray(b * per, (b + 1) * per)]);
    });
    expect(zeroed / picks.length).toBeGreaterThan(0.18);
    expect(zeroed / picks.length).toBeLessThan(0.32);
    // off by default: the random stream (noise, timesteps) of a run without dropout is unchanged
    expect([...buildUnetBatch(clips, picks, 2, schedule, new Rng(5), null, 0).target]).toEqual([...plain.target]);
  });

  it('refuses a clip without audio for the UNet, saying why', () => {
    const [clip] = syntheticClips({ ...spec, clips: 1 });
    const silent = { ...clip, audio: () => null };
    expect(() => buildUnetBatch([silent], [{ clip: 0, start: 0, refStart: 5 }], 2, new NoiseSchedule(), new Rng(1))).toThrow(/no audio/);
  });
});

describe('dynamic loss scaling', () => {
  it('halves and skips on overflow, grows after clean steps', () => {
    const s = new LossScaler(1024, 3);
    expect(s.update(false)).toBe(false);
    expect(s.scale).toBe(512);
    expect([s.update(true), s.update(true), s.update(true)]).toEqual([true, true, true]);
    expect(s.scale).toBe(1024);
    expect(s.state.skipped).toBe(1);
  });
});
