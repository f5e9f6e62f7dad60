import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/io/safetensors.ts';
import type { TensorData } from '../../src/io/dtype.ts';
import { floatValues } from '../../src/nn/host-values.ts';
import { mseLoss } from '../../src/nn/ops.ts';
import { memorySource, loadStateDict } from '../../src/nn/state-dict.ts';
import { foldFrames, unfoldFrames } from '../../src/nn/unet/frames.ts';
import { UNet3DConditionModel } from '../../src/nn/unet/unet-3d-condition.ts';
import { scope } from '../../src/tensor/scope.ts';
import { backward, noGrad } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { expectClose, FIXTURES, loadGolden, maxRelError } from '../helpers/golden.ts';
import { testRuntime } from '../helpers/gpu.ts';

/**
 * The tiny stage-1 UNet against tools/reference/models.py (float64 torch): forward output and the gradient
 * of every parameter after one MSE loss, with F = 3 frames per sample so the frame-pooled GroupNorm counts.
 */
const ioFile = (): Map<string, TensorData> => readSafetensors(readFileSync(join(FIXTURES, 'models', 'unet_tiny.io.safetensors'))).tensors;
const weights = (): Map<string, TensorData> => readSafetensors(readFileSync(join(FIXTURES, 'models', 'unet_tiny.weights.safetensors'))).tensors;

describe('UNet3DConditionModel (tiny preset) vs PyTorch', () => {
  it('matches the forward output and every parameter gradient', async () => {
    const io = loadGolden('models/unet_tiny.io.safetensors');
    // The gradients are split over two fixtures (up_blocks, the rest) to keep each file small.
    const parts = ['up', 'rest'].map((p) => loadGolden(`models/unet_tiny.grads.${p}.safetensors`));
    const grads = { t: (name: string) => (parts.find((g) => g.has(name)) ?? parts[1]).t(name) };
    const rt = await testRuntime();
    const model = new UNet3DConditionModel(io.meta.config as Record<string, unknown>);
    const report = await loadStateDict(model, rt, memorySource(weights()));
    expect(report.ok).toBe(true);

    const [b, cin, f, h, w] = io.shape('in.sample');
    const outShape = io.shape('out.sample');
    const ctxShape = io.shape('in.encoder_hidden_states');
    const sample = Tensor.fromArray(rt, foldFrames(io.t('in.sample'), [b, cin, f, h, w]), [b * f, cin, h, w]);
    const timestep = Tensor.fromArray(rt, floatValues(ioFile().get('in.timestep')!), [b]);
    const context = Tensor.fromArray(rt, io.t('in.encoder_hidden_states'), [b * f, ctxShape[2], ctxShape[3]]);
    const target = Tensor.fromArray(rt, foldFrames(io.t('in.target'), outShape), [b * f, outShape[1], h, w]);

    const t0 = performance.now();
    const out = scope(() => {
      const y = model.forward(sample, timestep, context, f);
      backward(mseLoss(y, target));
      return y;
    });
    const got = unfoldFrames(await out.toArray(), outShape);
    const seconds = (performance.now() - t0) / 1000;
    const fwdErr = maxRelError(got, io.t('out.sample'));
    let worst = { name: '', err: 0 };
    for (const [name, p] of model.namedParameters()) {
      const err = maxRelError(await p.t.grad!.toArray(), grads.t(`grad.${name}`));
      if (err > worst.err) worst = { name, err };
    }
    console.log(`unet-tiny forward+backward ${seconds.toFixed(1)} s; forward max rel error ${fwdErr.toExponential(2)}; worst gradient ${worst.name} ${worst.err.toExponential(2)}`);
    expectClose(got, io.t('out.sample'), 1e-4, 'UNet output');
    for (const [name, p] of model.namedParameters()) expectClose(await p.t.grad!.toArray(), grads.t(`grad.${name}`), 1e-3, `grad ${name}`);
  });
});
