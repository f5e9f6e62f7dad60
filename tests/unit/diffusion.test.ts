import { describe, expect, it } from 'vitest';
import { sampleNoise, sampleTimesteps } from '../../src/diffusion/noise.ts';
import { Rng } from '../../src/diffusion/rng.ts';
import { NoiseSchedule } from '../../src/diffusion/schedule.ts';
import { expectClose, loadGolden } from '../helpers/golden.ts';

describe('noise schedule (LatentSync: scaled_linear 0.00085..0.012, 1000 steps)', () => {
  const g = loadGolden('diffusion/schedule.safetensors');
  const s = new NoiseSchedule();

  it('matches the betas and cumulative alphas', () => {
    expectClose(Float32Array.from(s.betas), g.t('betas'), 1e-6, 'betas');
    expectClose(Float32Array.from(s.alphasCumprod), g.t('alphas_cumprod'), 1e-6, 'alphas_cumprod');
  });

  it('spaces DDIM timesteps like diffusers (leading, offset 1) and steps exactly', () => {
    const ts = s.ddimTimesteps(20);
    expect(ts).toEqual([...g.t('ddim_timesteps')]);
    const xt = g.t('xt');
    const eps = g.t('eps');
    const want = g.t('ddim_prev');
    ts.forEach((t, i) => {
      const c = s.ddimStepCoefficients(t, t - 50);
      const got = xt.map((x, j) => c.xt * x + c.eps * eps[j]);
      expectClose(got, want.subarray(i * 16, (i + 1) * 16), 1e-5, `ddim step at t=${t}`);
    });
    expect(() => s.ddimTimesteps(0)).toThrow(RangeError);
    expect(() => s.noiseCoefficients(1000)).toThrow(RangeError);
  });
});

describe('seeded randomness', () => {
  it('is reproducible from a seed and from a saved state', () => {
    const a = new Rng(42);
    a.normals(7);
    const saved = a.state;
    const next = a.normals(9);
    expect(Rng.restore(saved).normals(9)).toEqual(next);
    expect(new Rng(42).normals(5)).toEqual(new Rng(42).normals(5));
    expect(new Rng(42).normals(5)).not.toEqual(new Rng(43).normals(5));
  });

  it('draws standard normals and uniform timesteps', () => {
    const r = new Rng(1);
    const x = r.normals(200_000);
    const mean = x.reduce((a, b) => a + b, 0) / x.length;
    const varc = x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(varc - 1)).toBeLessThan(0.01);
    const ts = sampleTimesteps(r, 10_000);
    expect(Math.min(...ts)).toBe(0);
    expect(Math.max(...ts)).toBe(999);
    expect(new Set(r.permutation(50))).toEqual(new Set(Array.from({ length: 50 }, (_, i) => i)));
  });

  it('mixes a frame-shared component into the noise with unit variance', () => {
    const frames = 4;
    const per = 50_000;
    const eps = sampleNoise(new Rng(3), frames, per, 1);
    const v = eps.reduce((a, b) => a + b * b, 0) / eps.length;
    expect(Math.abs(v - 1)).toBeLessThan(0.02);
    // correlation between two frames = alpha^2 / (1 + alpha^2) = 0.5
    let c = 0;
    for (let i = 0; i < per; i++) c += eps[i] * eps[per + i];
    expect(c / per).toBeGreaterThan(0.47);
    expect(c / per).toBeLessThan(0.53);
  });
});
