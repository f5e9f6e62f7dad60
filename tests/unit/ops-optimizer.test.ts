import { describe, expect, it } from 'vitest';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { allFinite } from '../../src/tensor/ops/all-finite.ts';
import { clipGradNorm } from '../../src/tensor/ops/clip-grad-norm.ts';
import { keep, scope } from '../../src/tensor/scope.ts';
import { Storage, Tensor } from '../../src/tensor/tensor.ts';
import { adamwStep, createAdamWState, disposeAdamWState, type AdamWOptions } from '../../src/train/adamw.ts';
import { expectClose, loadGolden, maxRelError, type Golden } from '../helpers/golden.ts';
import { metaRuntime, testRuntime } from '../helpers/gpu.ts';

// Tolerances: torch runs the same f32 arithmetic; ours may fuse multiply-adds and (GPU step counter) computes
// the bias corrections in f32, so params and moments agree to ~1e-6 of their scale. Bound: 1e-5.
const TOL = 1e-5;
const errors: Record<string, number> = {};
const note = (key: string, err: number) => (errors[key] = Math.max(errors[key] ?? 0, err));

function hyper(g: Golden, step?: number): AdamWOptions {
  const m = g.meta as Record<string, number>;
  return { lr: m.lr, beta1: m.beta1, beta2: m.beta2, eps: m.eps, weightDecay: m.weight_decay, step };
}

/** Runs a torch AdamW golden; `hostStep` passes torch's step number, else the GPU counter is used. */
async function runAdamW(rt: GpuRuntime, file: string, hostStep: boolean, skipFirst = false) {
  const g = loadGolden(`ops/adamw/${file}.safetensors`);
  const count = g.meta.count as number;
  const gradDtype = g.meta.grad_dtype as 'f32' | 'f16';
  const params = Array.from({ length: count }, (_, i) => keep(Tensor.fromArray(rt, g.t(`in.p${i}`), g.shape(`in.p${i}`), 'f32', 'weights', `p${i}`)));
  const state = createAdamWState(rt, params);
  if (skipFirst) {
    // A step whose gradients overflowed: nothing may change, and the counter must not advance.
    scope(() => {
      const grads = params.map((p, i) => Tensor.fromArray(rt, g.t(`in.g${i}.s0`).map((v, j) => (j === 2 ? Infinity : v)), p.shape, gradDtype));
      adamwStep(params, grads, state, { ...hyper(g), skipUnless: allFinite(grads) });
    });
    for (let i = 0; i < count; i++) expect(await params[i].toArray()).toEqual(g.t(`in.p${i}`));
    expect((await state.m[0].toArray()).every((v) => v === 0)).toBe(true);
    expect(await state.step.toArray()).toEqual(new Float32Array([0]));
  }
  for (let k = 0; k < (g.meta.steps as number); k++) {
    scope(() => {
      const grads = params.map((p, i) => Tensor.fromArray(rt, g.t(`in.g${i}.s${k}`), p.shape, gradDtype));
      adamwStep(params, grads, state, { ...hyper(g, hostStep ? k + 1 : undefined), skipUnless: skipFirst ? allFinite(grads) : undefined });
    });
    for (let i = 0; i < count; i++) {
      const err = maxRelError(await params[i].toArray(), g.t(`out.p${i}.s${k}`));
      note(`adamw params (${hostStep ? 'host' : 'GPU'} step)`, err);
      expect(err, `${file} p${i} after step ${k + 1}`).toBeLessThanOrEqual(TOL);
    }
  }
  for (let i = 0; i < count; i++) {
    const errs = [maxRelError(await state.m[i].toArray(), g.t(`out.m${i}`)), maxRelError(await state.v[i].toArray(), g.t(`out.v${i}`))];
    note('adamw moments', Math.max(...errs));
    errs.forEach((e) => expect(e, `${file} moments of p${i}`).toBeLessThanOrEqual(TOL));
  }
  expect(await state.step.toArray()).toEqual(new Float32Array([g.meta.steps as number]));
  return { params, state };
}

const rand = (n: number, seed: number) => {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
};

describe('adamwStep', () => {
  for (const file of ['lr1e-2_b0.9_0.99_wd0.1', 'defaults_f16grads']) {
    it(`matches torch.optim.AdamW over several steps (${file}, host step)`, async () => {
      await runAdamW(await testRuntime(), file, true);
    });
  }

  it('matches torch with the GPU step counter (bias corrections computed on the GPU)', async () => {
    await runAdamW(await testRuntime(), 'lr1e-2_b0.9_0.99_wd0.1', false);
    await runAdamW(await testRuntime(), 'defaults_f16grads', false);
  });

  it('skips a non-finite step on the GPU and then continues as torch does', async () => {
    await runAdamW(await testRuntime(), 'lr1e-2_b0.9_0.99_wd0.1', false, true);
  });

  it('keeps m and v under the optimizer category and frees them on dispose', async () => {
    const rt = await testRuntime({ pooling: false });
    const params = [keep(Tensor.empty(rt, [1000], 'f32', 'weights', 'w')), keep(Tensor.empty(rt, [10, 10], 'f32', 'weights', 'b'))];
    const before = rt.ledger.snapshot().liveByCategory.optimizer;
    const state = createAdamWState(rt, params);
    const held = rt.ledger.snapshot().liveByCategory.optimizer - before;
    expect(held).toBeGreaterThanOrEqual(2 * 4 * 1100 + 4);
    expect(state.m.concat(state.v).every((t) => t.dtype === 'f32' && t.storage.buffer.category === 'optimizer')).toBe(true);
    disposeAdamWState(state);
    expect(rt.ledger.snapshot().liveByCategory.optimizer).toBe(before);
  });

  it('updates parameters larger than a binding (chunked) like a host reference', async () => {
    const rt = await testRuntime();
    rt.limits.maxStorageBufferBindingSize = 1024;
    const n = 3001;
    const p0 = rand(n, 1);
    const grads = [rand(n, 2), rand(n, 3)];
    const p = keep(Tensor.fromArray(rt, p0, [n], 'f32', 'weights'));
    const state = createAdamWState(rt, [p]);
    const o = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05 };
    for (const g of grads) scope(() => adamwStep([p], [Tensor.fromArray(rt, g, [n])], state, o));
    // Host reference in f64.
    const ref = Float64Array.from(p0);
    const m = new Float64Array(n);
    const v = new Float64Array(n);
    grads.forEach((g, k) => {
      const t = k + 1;
      for (let i = 0; i < n; i++) {
        ref[i] *= 1 - o.lr * o.weightDecay;
        m[i] = o.beta1 * m[i] + (1 - o.beta1) * g[i];
        v[i] = o.beta2 * v[i] + (1 - o.beta2) * g[i] * g[i];
        ref[i] -= (o.lr / (1 - o.beta1 ** t)) * (m[i] / (Math.sqrt(v[i]) / Math.sqrt(1 - o.beta2 ** t) + o.eps));
      }
    });
    expectClose(await p.toArray(), ref, 1e-5, 'chunked adamw');
  });
});

describe('clipGradNorm', () => {
  for (const file of ['clipped', 'unclipped']) {
    it(`matches torch.nn.utils.clip_grad_norm_ (${file})`, async () => {
      const rt = await testRuntime();
      const g = loadGolden(`ops/clip_grad_norm/${file}.safetensors`);
      const grads = Array.from({ length: g.meta.count as number }, (_, i) => Tensor.fromArray(rt, g.t(`in.g${i}`), g.shape(`in.g${i}`), 'f32', 'grads'));
      const norm = clipGradNorm(grads, g.meta.max_norm as number);
      const nErr = maxRelError(await norm.toArray(), g.t('out.norm'));
      note('clip norm', nErr);
      expect(nErr).toBeLessThanOrEqual(1e-5);
      for (let i = 0; i < grads.length; i++) {
        const err = maxRelError(await grads[i].toArray(), g.t(`out.g${i}`));
        note('clipped grads', err);
        expect(err).toBeLessThanOrEqual(1e-5);
      }
    });
  }

  it('is deterministic, works past the binding size, and only measures with maxNorm = Infinity', async () => {
    const rt = await testRuntime();
    rt.limits.maxStorageBufferBindingSize = 1024;
    const data = [rand(3000, 1), rand(777, 2)];
    let sq = 0;
    for (const d of data) for (const x of d) sq += x * x;
    const norms = [];
    for (let run = 0; run < 2; run++) {
      const grads = data.map((d) => Tensor.fromArray(rt, d, [d.length], 'f32', 'grads'));
      norms.push((await clipGradNorm(grads, 1).toArray())[0]);
      const coef = 1 / (Math.sqrt(sq) + 1e-6);
      expectClose(await grads[0].toArray(), data[0].map((x) => x * coef), 1e-5, 'chunked clip');
    }
    expect(norms[1]).toBe(norms[0]);
    expect(Math.abs(norms[0] - Math.sqrt(sq)) / Math.sqrt(sq)).toBeLessThan(1e-6);
    const untouched = Tensor.fromArray(rt, data[1], [777], 'f32', 'grads');
    expect((await clipGradNorm([untouched], Infinity).toArray())[0]).toBeGreaterThan(0);
    expect(await untouched.toArray()).toEqual(data[1]);
  });
});

describe('allFinite', () => {
  it('flags inf and NaN in f32 and f16 storage, ignoring the pad half of odd f16 tensors', async () => {
    const rt = await testRuntime();
    const flag = async (ts: Tensor[]) => (await allFinite(ts).toArray())[0];
    const ok = Tensor.fromArray(rt, rand(1001, 1), [1001]);
    const big = Tensor.fromArray(rt, [65504, -65504, 1e-8], [3], 'f16');
    expect(await flag([ok, big])).toBe(1);
    for (const bad of [Infinity, -Infinity, NaN]) {
      const d = rand(1001, 2);
      d[777] = bad;
      expect(await flag([ok, Tensor.fromArray(rt, d, [1001])])).toBe(0);
      expect(await flag([Tensor.fromArray(rt, d, [1001], 'f16'), ok])).toBe(0);
    }
    // 1e5 overflows f16: the cast makes it inf, which the check must see.
    expect(await flag([Tensor.fromArray(rt, [1, 1e5], [2], 'f16')])).toBe(0);
    // Three halves in two words whose unused fourth half holds an inf pattern: still finite.
    const buf = rt.ledger.alloc(8, 'data', 'raw halves');
    rt.upload(buf, new Uint16Array([0x3c00, 0x3c00, 0x3c00, 0x7c00]));
    expect(await flag([new Tensor(new Storage(rt, buf), [3], 'f16')])).toBe(1);
  });

  it('works past the binding size', async () => {
    const rt = await testRuntime();
    rt.limits.maxStorageBufferBindingSize = 1024;
    const d = rand(5000, 3);
    expect((await allFinite([Tensor.fromArray(rt, d, [5000])]).toArray())[0]).toBe(1);
    d[4999] = NaN;
    expect((await allFinite([Tensor.fromArray(rt, d, [5000], 'f16')]).toArray())[0]).toBe(0);
  });
});

describe('optimizer ops on the meta device', () => {
  it('record the same ledger peak as a real run', async () => {
    const peaks: number[] = [];
    for (const rt of [await testRuntime({ pooling: false }), await metaRuntime({ pooling: false })]) {
      const params = [keep(Tensor.empty(rt, [5000], 'f32', 'weights', 'w')), keep(Tensor.empty(rt, [33], 'f32', 'weights', 'b'))];
      const state = createAdamWState(rt, params);
      scope(() => {
        const grads = params.map((p) => Tensor.empty(rt, p.shape, 'f32', 'grads', 'g'));
        const finite = allFinite(grads);
        clipGradNorm(grads, 1);
        adamwStep(params, grads, state, { lr: 1e-3, skipUnless: finite });
      });
      await rt.sync();
      peaks.push(rt.ledger.snapshot().peak);
    }
    expect(peaks[1]).toBe(peaks[0]);
  });

  it('prints the measured errors', () => {
    console.log('max relative errors:', JSON.stringify(errors, null, 1));
  });
});
