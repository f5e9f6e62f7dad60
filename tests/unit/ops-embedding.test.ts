import { describe, expect, it } from 'vitest';
import { timestepEmbedding, timestepFrequencies } from '../../src/tensor/ops/timestep-embedding.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { metaRuntime, testRuntime } from '../helpers/gpu.ts';
import { loadGolden } from '../helpers/golden.ts';

const CASES = ['unet320', 'odd7', 'scaled32'];

/** Distance in units in the last place between two f32 values of the same sign. */
function ulps(a: number, b: number): number {
  const f = new Float32Array([a, b]);
  const i = new Int32Array(f.buffer);
  return Math.abs(i[0] - i[1]);
}

describe('timestep_embedding', () => {
  it("computes diffusers' float32 frequencies to within an ulp of torch's exp", () => {
    for (const c of CASES) {
      const g = loadGolden(`ops/timestep_embedding/${c}.safetensors`);
      const ours = timestepFrequencies(g.meta.dim as number, g.meta.downscaleFreqShift as number, g.meta.maxPeriod as number);
      const torch = g.t('ref.freqs');
      expect(ours.length).toBe(torch.length);
      ours.forEach((v, k) => expect(ulps(v, torch[k]), `${c} freq ${k}`).toBeLessThanOrEqual(1));
    }
  });

  for (const dtype of ['f32', 'f16'] as const) {
    it(`matches diffusers' get_timestep_embedding (dim 320 flipped, odd dim 7, scale 2 / max period 5000), ${dtype}`, async () => {
      const rt = await testRuntime();
      let worst = 0;
      for (const c of CASES) {
        const g = loadGolden(`ops/timestep_embedding/${c}.safetensors`);
        const m = g.meta as { dim: number; flipSinToCos: boolean; downscaleFreqShift: number; scale: number; maxPeriod: number };
        const ts = g.t('in.timesteps');
        const t = Tensor.fromArray(rt, ts, [ts.length], dtype);
        const y = timestepEmbedding(t, m.dim, m);
        expect(y.shape).toEqual(g.shape('out.y'));
        expect(y.dtype).toBe(dtype);
        const got = await y.toArray();
        const ref = g.t('out.y');
        const freqs = g.t('ref.freqs');
        const half = freqs.length;
        // sin(t * freq) moves by |arg| * (relative change of freq): torch's exp and ours may differ by one ulp
        // of freq (2^-23 relative), so the bound is 1e-6 plus one ulp of the argument; f16 storage adds
        // 2^-11 of the value.
        for (let i = 0; i < got.length; i++) {
          const row = Math.floor(i / m.dim);
          const col = i % m.dim;
          const k = col >= 2 * half ? -1 : col % half;
          const arg = k < 0 ? 0 : Math.abs(m.scale * ts[row] * freqs[k]);
          const bound = 1e-6 + arg * 2 ** -23 + (dtype === 'f16' ? 2 ** -11 * Math.abs(ref[i]) : 0);
          const err = Math.abs(got[i] - ref[i]);
          worst = Math.max(worst, err);
          if (!(err <= bound)) expect.fail(`${c} [${row}, ${col}]: ${got[i]} vs ${ref[i]} (arg ${arg})`);
        }
        if (m.dim % 2 === 1) for (let r = 0; r < ts.length; r++) expect(got[r * m.dim + m.dim - 1]).toBe(0);
      }
      console.log(`timestep_embedding ${dtype}: max abs error ${worst.toExponential(2)}`);
    });
  }

  it('errs at most 1e-6 (t up to 999) wherever its frequency equals torch\'s bit for bit', async () => {
    const rt = await testRuntime();
    const g = loadGolden('ops/timestep_embedding/unet320.safetensors');
    const ts = g.t('in.timesteps');
    const y = await timestepEmbedding(Tensor.fromArray(rt, ts, [ts.length]), 320, { flipSinToCos: true, downscaleFreqShift: 0 }).toArray();
    const ref = g.t('out.y');
    const same = timestepFrequencies(320, 0, 10000).map((v, k) => (v === g.t('ref.freqs')[k] ? 1 : 0));
    let worst = 0;
    for (let i = 0; i < y.length; i++) if (same[i % 160]) worst = Math.max(worst, Math.abs(y[i] - ref[i]));
    console.log(`timestep_embedding f32, equal frequencies (${same.reduce((a, b) => a + b, 0)} of 160): max abs error ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-6);
  });

  it('allocates the same on the meta device (no backward: timesteps are not differentiable)', async () => {
    const peaks: number[] = [];
    for (const rt of [await testRuntime({ pooling: false }), await metaRuntime({ pooling: false })]) {
      const t = Tensor.empty(rt, [7], 'f16', 'data', 't');
      timestepEmbedding(t, 1281, { flipSinToCos: true }).dispose();
      t.dispose();
      await rt.sync();
      peaks.push(rt.ledger.snapshot().peak);
    }
    expect(peaks[1]).toBe(peaks[0]);
  });
});
