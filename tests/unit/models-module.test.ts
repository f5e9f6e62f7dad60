import { beforeAll, describe, expect, it } from 'vitest';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { Linear } from '../../src/nn/layers/linear.ts';
import { Conv2d } from '../../src/nn/layers/conv2d.ts';
import { GroupNorm } from '../../src/nn/layers/group-norm.ts';
import { mseLoss } from '../../src/nn/ops.ts';
import { getPreset, modelFromPreset } from '../../src/nn/presets.ts';
import { exportStateDict, loadStateDict, memorySource } from '../../src/nn/state-dict.ts';
import { UNet3DConditionModel } from '../../src/nn/unet/unet-3d-condition.ts';
import { scope } from '../../src/tensor/scope.ts';
import { backward, noGrad } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { expectClose, loadGolden, maxRelError } from '../helpers/golden.ts';
import { metaRuntime, testRuntime } from '../helpers/gpu.ts';

const seq = (n: number, k = 0.37) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k + 1) * 1.5);

/** UNet inputs: B = 1 sample of 2 frames at 8x8 (data on real devices, empty on the meta device). */
function unetInputs(rt: GpuRuntime, model: UNet3DConditionModel) {
  const [n, s, c, d] = [2, 8, model.config.in_channels, model.config.cross_attention_dim];
  return {
    x: Tensor.fromArray(rt, seq(n * c * s * s), [n, c, s, s]),
    t: Tensor.fromArray(rt, [321], [1]),
    ctx: Tensor.fromArray(rt, seq(n * 4 * d, 0.11), [n, 4, d]),
    target: Tensor.fromArray(rt, seq(n * 4 * s * s, 0.23), [n, 4, s, s]),
  };
}

function trainStep(model: UNet3DConditionModel, inp: ReturnType<typeof unetInputs>): void {
  scope(() => backward(mseLoss(model.forward(inp.x, inp.t, inp.ctx, 2), inp.target)));
}

// One runtime for the file: each runtime compiles its own pipelines, which is slow on SwiftShader.
let shared: GpuRuntime;
beforeAll(async () => {
  shared = await testRuntime({ pooling: false });
});

describe('Module: names, init, state_dict', () => {
  it("initializes like torch's defaults, reproducibly from a seed", async () => {
    const rt = shared;
    const lin = new Linear(50, 7).materialize(rt, { seed: 3 });
    const conv = new Conv2d(6, 5, 3).materialize(rt, { seed: 3 });
    const norm = new GroupNorm(2, 6, 1e-5).materialize(rt, { seed: 3 });
    const w = await lin.weight.t.toArray();
    const bound = 1 / Math.sqrt(50);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.9 * bound);
    expect(Math.max(...(await conv.weight.t.toArray()).map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(6 * 9));
    expect(Math.max(...(await conv.bias!.t.toArray()).map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(6 * 9));
    expect([...(await norm.weight.t.toArray())]).toEqual([1, 1, 1, 1, 1, 1]);
    expect([...(await norm.bias.t.toArray())]).toEqual([0, 0, 0, 0, 0, 0]);
    expect(await new Linear(50, 7).materialize(rt, { seed: 3 }).weight.t.toArray()).toEqual(w);
    expect(await new Linear(50, 7).materialize(rt, { seed: 4 }).weight.t.toArray()).not.toEqual(w);
    expect([...lin.namedParameters()].map(([n, p]) => [n, p.t.requiresGrad, rt.ledger.snapshot().liveByCategory.weights > 0])).toEqual([
      ['weight', true, true],
      ['bias', true, true],
    ]);
  });

  it('zero-initializes conv_in and conv_out on request, and exports / re-imports a state_dict exactly (f32 and f16)', async () => {
    const rt = shared;
    const model = modelFromPreset('vae-tiny').materialize(rt, { seed: 9 });
    const sd = await exportStateDict(model);
    expect([...sd.keys()]).toEqual([...model.namedParameters()].map(([n]) => n));
    const again = modelFromPreset('vae-tiny');
    expect((await loadStateDict(again, rt, memorySource(sd))).ok).toBe(true);
    const back = await exportStateDict(again);
    for (const [name, t] of sd) expect(back.get(name)!.data, name).toEqual(t.data);
    const half = modelFromPreset('vae-tiny');
    await loadStateDict(half, rt, memorySource(await exportStateDict(model, { dtype: 'F16' })), { dtype: 'f16' });
    expect(half.parameter('decoder.conv_out.weight')!.t.dtype).toBe('f16');
    expect(maxRelError(await half.parameter('decoder.conv_out.weight')!.t.toArray(), (await model.parameter('decoder.conv_out.weight')!.t.toArray()))).toBeLessThan(1e-3);

    const zeroed = new UNet3DConditionModel(getPreset('unet-tiny').config, { zeroInitConvIn: true, zeroInitConvOut: true }).materialize(rt, { seed: 1 });
    for (const name of ['conv_in.weight', 'conv_in.bias', 'conv_out.weight', 'conv_out.bias']) {
      expect(Math.max(...(await zeroed.parameter(name)!.t.toArray()).map(Math.abs)), name).toBe(0);
    }
    expect(Math.max(...(await zeroed.parameter('conv_norm_out.weight')!.t.toArray()))).toBe(1);
  });

  it('a non-strict load reports what it lacked and initializes it', async () => {
    const rt = shared;
    const sd = await exportStateDict(modelFromPreset('vae-tiny').materialize(rt, { seed: 2 }));
    sd.delete('quant_conv.weight');
    const model = modelFromPreset('vae-tiny');
    const r = await loadStateDict(model, rt, memorySource(sd), { strict: false, seed: 5 });
    expect(r.ok).toBe(false);
    expect(r.missing).toEqual([{ name: 'quant_conv.weight', shape: [8, 8, 1, 1] }]);
    expect(model.parameter('quant_conv.weight')!.t.shape).toEqual([8, 8, 1, 1]);
  });
});

describe('UNet3DConditionModel: frames, timesteps, checkpointing, planning', () => {
  it('takes one timestep per sample or one per frame', async () => {
    const rt = shared;
    const model = modelFromPreset('unet-tiny').materialize(rt, { seed: 1 }) as UNet3DConditionModel;
    const inp = unetInputs(rt, model);
    const perFrame = Tensor.fromArray(rt, [321, 321], [2]);
    const [a, b] = scope(() => noGrad(() => [model.forward(inp.x, inp.t, inp.ctx, 2), model.forward(inp.x, perFrame, inp.ctx, 2)]));
    expect(await b.toArray()).toEqual(await a.toArray());
  });

  it('gives the same gradients with gradient checkpointing, and the meta device predicts both peaks exactly', async () => {
    const grads: Float32Array[][] = [];
    const peaks: Record<string, number> = {};
    for (const device of ['real', 'meta'] as const) {
      for (const checkpointing of [false, true]) {
        const rt = device === 'real' ? shared : await metaRuntime({ pooling: false });
        const model = modelFromPreset('unet-tiny').materialize(rt, { seed: 1 }) as UNet3DConditionModel;
        model.setGradientCheckpointing(checkpointing);
        const inp = unetInputs(rt, model);
        await rt.sync();
        // Peaks of the step alone, above what the runtime already held (the shared one holds earlier tests' tensors).
        const before = rt.ledger.snapshot();
        rt.ledger.resetPeaks();
        trainStep(model, inp);
        await rt.sync();
        const after = rt.ledger.snapshot();
        peaks[`${device} ${checkpointing}`] = after.peakByCategory.activations - before.liveByCategory.activations;
        peaks[`${device} ${checkpointing} total`] = after.peak - before.held;
        if (device === 'real') grads.push(await Promise.all(model.parameters().map((p) => p.grad!.toArray())));
        model.dispose();
        for (const t of Object.values(inp)) t.dispose();
      }
    }
    // Recomputation is exact; only the order in which gradients accumulate differs (float rounding).
    grads[1].forEach((g, i) => expectClose(g, grads[0][i], 1e-5, `checkpointed grad ${i}`));
    expect(peaks['meta false total']).toBe(peaks['real false total']);
    expect(peaks['meta true total']).toBe(peaks['real true total']);
    expect(peaks['meta false']).toBe(peaks['real false']);
    expect(peaks['meta true']).toBe(peaks['real true']);
    expect(peaks['real true']).toBeLessThan(peaks['real false']);
    console.log(`unet-tiny 8x8 F=2 activation peak: ${peaks['real false']} bytes, ${peaks['real true']} with checkpointing`);
  });

  it('runs with f16 weights and activations close to the f32 reference', async () => {
    const io = loadGolden('models/unet_tiny.io.safetensors');
    const rt = shared;
    const f32 = modelFromPreset('unet-tiny').materialize(rt, { seed: 1, requiresGrad: false }) as UNet3DConditionModel;
    const f16 = new UNet3DConditionModel(f32.config, { activationDtype: 'f16' });
    await loadStateDict(f16, rt, memorySource(await exportStateDict(f32)), { dtype: 'f16', requiresGrad: false });
    const inp = unetInputs(rt, f32);
    const [a, b] = scope(() => noGrad(() => [f32.forward(inp.x, inp.t, inp.ctx, 2), f16.forward(inp.x, inp.t, inp.ctx, 2)]));
    expect(b.dtype).toBe('f16');
    const err = maxRelError(await b.toArray(), await a.toArray());
    console.log(`unet-tiny f16 storage vs f32: max rel error ${err.toExponential(2)}`);
    // Half storage rounds every weight and activation to 11 bits (~5e-4 each); errors compound over the blocks.
    expect(err).toBeLessThan(2e-2);
    expect(io.names.length).toBeGreaterThan(0);
  });
});
