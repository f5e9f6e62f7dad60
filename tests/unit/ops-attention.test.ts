import { describe, expect, it } from 'vitest';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import type { DType } from '../../src/tensor/dtype.ts';
import { attention, attentionTiles, attentionWorkgroupBytes, type AttentionKernel } from '../../src/tensor/ops/attention.ts';
import { keep, scope } from '../../src/tensor/scope.ts';
import { backward, noGrad } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { expectClose, loadGolden, maxRelError } from '../helpers/golden.ts';
import { metaRuntime, testRuntime } from '../helpers/gpu.ts';
import { checkFiniteDifferences, errorLog, rand } from '../helpers/op-checks.ts';

// Tolerances (relative to the reference's max). f32 storage: forward 1e-5, gradients 1e-4. f16 storage: the
// reference runs on the f16-rounded q, k, v; our output is stored as f16 (2^-11 relative) and backward reads
// that rounded output in Dvec = rowsum(dO * O), so forward 1e-3 and gradients 3e-3.
const TOL = { f32: { y: 1e-5, g: 1e-4 }, f16: { y: 1e-3, g: 3e-3 } };

// One runtime (one pipeline cache: SwiftShader compiles are the slow part) for the tests that keep the limits.
let sharedRt: Promise<GpuRuntime> | null = null;
const shared = () => (sharedRt ??= testRuntime());
const { errors, note } = errorLog();

const CASES = [
  'self_b1_n7_h1_d8',
  'cross_b2_nq7_nk13_h2_d40',
  'cross_b2_nq33_nk5_h8_d8',
  'self_b1_n33_h1_d64',
  'cross_b1_nq9_nk11_h2_d80_scale',
  'cross_b1_nq9_nk17_h1_d160',
  'self_b1_n6_h1_d512',
  'f16_cross_b2_nq7_nk13_h2_d40',
  'f16_self_b1_n33_h1_d64',
  'f16_cross_b1_nq9_nk17_h1_d160',
];

async function runCase(rt: GpuRuntime, name: string) {
  const g = loadGolden(`ops/attention/${name}.safetensors`);
  const dtype = g.meta.dtype as DType;
  const [q, k, v] = ['q', 'k', 'v'].map((n) => {
    const t = Tensor.fromArray(rt, g.t(`in.${n}`), g.shape(`in.${n}`), dtype, 'data', n);
    t.requiresGrad = true;
    return t;
  });
  const scale = g.meta.scale === 'default' ? undefined : (g.meta.scale as number);
  const y = attention(q, k, v, g.meta.heads as number, { scale });
  backward(y, Tensor.fromArray(rt, g.t('in.gy'), g.shape('in.gy'), 'f32'));
  return { g, dtype, y: await y.toArray(), grads: await Promise.all([q, k, v].map((t) => t.grad!.toArray())) };
}

describe('attention', () => {
  for (const name of CASES) {
    it(`matches torch: ${name}`, async () => {
      const rt = await shared();
      const { g, dtype, y, grads } = await runCase(rt, name);
      const yErr = maxRelError(y, g.t('out.y'));
      note(`attention ${dtype} y`, yErr);
      expect(yErr, `${name} out.y`).toBeLessThanOrEqual(TOL[dtype].y);
      ['q', 'k', 'v'].forEach((n, i) => {
        const err = maxRelError(grads[i], g.t(`grad.${n}`));
        note(`attention ${dtype} grad`, err);
        expect(err, `${name} grad.${n}`).toBeLessThanOrEqual(TOL[dtype].g);
      });
    });
  }

  it('gradients agree with finite differences', async () => {
    const rt = await shared();
    const inputs = [
      { data: rand(3 * 4, 1).map((x) => x * 3), shape: [1, 3, 4] },
      { data: rand(5 * 4, 2).map((x) => x * 3), shape: [1, 5, 4] },
      { data: rand(5 * 4, 3), shape: [1, 5, 4] },
    ];
    const err = await checkFiniteDifferences(rt, inputs, (q, k, v) => attention(q, k, v, 2));
    note('attention finite differences', err);
    expect(err).toBeLessThan(1e-3);
  });

  it('sizes tiles from the adapter limits for every head dim the models use', async () => {
    const rt = await shared();
    for (const storage of [16384, 32768]) {
      const limits = { ...rt.limits, maxComputeWorkgroupStorageSize: storage };
      for (const D of [8, 40, 64, 80, 160, 512]) {
        for (const kernel of ['forward', 'dq', 'dkdv'] as AttentionKernel[]) {
          const t = attentionTiles(limits, kernel, D, 4096, 4096);
          expect(attentionWorkgroupBytes(kernel, t)).toBeLessThanOrEqual(storage);
          expect(t.nchunks * t.dt).toBeGreaterThanOrEqual(D);
          expect(t.dt).toBeLessThanOrEqual(64);
        }
      }
    }
    // Same results with the smaller tiles a 16 KiB adapter gets (D = 160: three chunks, fewer rows per tile).
    const ref = await runCase(rt, 'cross_b1_nq9_nk17_h1_d160');
    const small = await testRuntime();
    small.limits.maxComputeWorkgroupStorageSize = 16384;
    const [t16, t32] = [small, rt].map((r) => attentionTiles(r.limits, 'forward', 160, 9, 17));
    expect(t16.br * t16.bc).toBeLessThan(t32.br * t32.bc);
    const got = await runCase(small, 'cross_b1_nq9_nk17_h1_d160');
    expectClose(got.y, ref.g.t('out.y'), TOL.f32.y, 'y with 16 KiB tiles');
    got.grads.forEach((gr, i) => expectClose(gr, ref.g.t(`grad.${'qkv'[i]}`), TOL.f32.g, `grad ${'qkv'[i]} with 16 KiB tiles`));
  });

  it('splits batches across bindings past maxStorageBufferBindingSize with the same results', async () => {
    const whole = await runCase(await shared(), 'cross_b2_nq7_nk13_h2_d40');
    const rt = await testRuntime();
    rt.limits.maxStorageBufferBindingSize = 8192; // one batch (13 x 80 f32 of k, plus alignment slack) per binding
    const split = await runCase(rt, 'cross_b2_nq7_nk13_h2_d40');
    expect(split.y).toEqual(whole.y);
    split.grads.forEach((gr, i) => expect(gr).toEqual(whole.grads[i]));
  });

  it('peak memory grows linearly with sequence length (meta device up to 4096 tokens, real runs when small)', async () => {
    const heads = 8;
    const C = 8 * 40;
    // Forward + backward of self attention at length n; returns the ledger peak above what was live before.
    const peakOf = async (rt: GpuRuntime, n: number, dtype: DType) => {
      const before = rt.ledger.snapshot().live;
      rt.ledger.resetPeaks();
      scope(() => {
        const [q, k, v] = [0, 1, 2].map(() => {
          const t = Tensor.empty(rt, [1, n, C], dtype, 'activations', 'qkv');
          t.requiresGrad = true;
          return t;
        });
        const y = attention(q, k, v, heads);
        backward(y, Tensor.empty(rt, [1, n, C], 'f32', 'activations', 'gy'));
      });
      await rt.sync();
      return rt.ledger.snapshot().peak - before;
    };
    for (const dtype of ['f32', 'f16'] as DType[]) {
      const lengths = [256, 512, 1024, 2048, 4096];
      const peaks: number[] = [];
      for (const n of lengths) peaks.push(await peakOf(await metaRuntime({ pooling: false }), n, dtype));
      const perToken = peaks.map((p, i) => p / lengths[i]);
      // Linear: bytes per token stay flat (size classes round up by at most 12.5%). A score matrix would make
      // the 4096-token peak 16x the 256-token one per token; even one f32 [H, N, N] slice is 512 MiB here.
      for (const b of perToken) expect(b / perToken[0]).toBeLessThan(1.15);
      expect(peaks[4]).toBeLessThan(heads * 4096 * 4096 * 4);
      const ratios = peaks.slice(1).map((p, i) => p / peaks[i]);
      for (const r of ratios) expect(r).toBeLessThan(2.2);
      console.log(`attention ${dtype} peak bytes by length:`, Object.fromEntries(lengths.map((n, i) => [n, peaks[i]])));
      // Real runs at small lengths record exactly what the meta device predicts.
      const [real, meta] = [await testRuntime({ pooling: false }), await metaRuntime({ pooling: false })];
      for (const n of [16, 48]) expect(await peakOf(real, n, dtype)).toBe(await peakOf(meta, n, dtype));
    }
  });

  it('skips the gradients nobody wants and keeps nothing after backward', async () => {
    const rt = await testRuntime({ pooling: false });
    const q = keep(Tensor.fromArray(rt, rand(2 * 5 * 16, 4), [2, 5, 16]));
    const kv = keep(Tensor.fromArray(rt, rand(2 * 3 * 16, 5), [2, 3, 16]));
    q.requiresGrad = true;
    const live = rt.ledger.snapshot().live;
    scope(() => backward(attention(q, kv, kv, 4)));
    expect(kv.grad).toBeNull();
    expect(q.grad).not.toBeNull();
    q.grad!.dispose();
    expect(rt.ledger.snapshot().live).toBe(live);
    const y = await noGrad(() => attention(q, kv, kv, 4)).toArray();
    expect(y.every(Number.isFinite)).toBe(true);
  });

  it('prints the measured errors', () => {
    console.log('max relative errors:', JSON.stringify(errors, null, 1));
  });
});
