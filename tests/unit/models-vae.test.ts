import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TensorData } from '../../src/io/dtype.ts';
import { readSafetensors } from '../../src/io/safetensors.ts';
import { loadStateDict, memorySource, StateDictMismatchError } from '../../src/nn/state-dict.ts';
import { AutoencoderKL } from '../../src/nn/vae/autoencoder-kl.ts';
import { sampleGaussian } from '../../src/nn/vae/diagonal-gaussian.ts';
import { scope } from '../../src/tensor/scope.ts';
import { backward, noGrad } from '../../src/tensor/tape.ts';
import { mseLoss } from '../../src/nn/ops.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { expectClose, FIXTURES, loadGolden, maxRelError } from '../helpers/golden.ts';
import { testRuntime } from '../helpers/gpu.ts';

/** The tiny AutoencoderKL against tools/reference/models.py (float64 torch), in both attention spellings. */
const tensorsOf = (file: string): Map<string, TensorData> => readSafetensors(readFileSync(join(FIXTURES, 'models', file))).tensors;

async function runVae(rt: GpuRuntime, model: AutoencoderKL, io: ReturnType<typeof loadGolden>) {
  const images = Tensor.fromArray(rt, io.t('in.images'), io.shape('in.images'));
  const latents = Tensor.fromArray(rt, io.t('in.latents'), io.shape('in.latents'));
  const noise = Tensor.fromArray(rt, io.t('in.noise'), io.shape('in.noise'));
  const out = scope(() =>
    noGrad(() => {
      const { mean, logvar } = model.encode(images);
      return { mean, logvar, latentSample: sampleGaussian(mean, logvar, noise), sample: model.decode(latents) };
    }),
  );
  return {
    mean: await out.mean.toArray(),
    logvar: await out.logvar.toArray(),
    latentSample: await out.latentSample.toArray(),
    sample: await out.sample.toArray(),
  };
}

// One runtime for the file: each runtime compiles its own pipelines, which is slow on SwiftShader.
let shared: GpuRuntime;
beforeAll(async () => {
  shared = await testRuntime();
});

describe('AutoencoderKL (tiny preset) vs PyTorch', () => {
  it('encodes (mean, logvar, a sample for given noise) and decodes like the reference', async () => {
    const io = loadGolden('models/vae_tiny.io.safetensors');
    const rt = shared;
    const model = new AutoencoderKL(io.meta.config as Record<string, unknown>);
    expect((await loadStateDict(model, rt, memorySource(tensorsOf('vae_tiny.weights.safetensors')))).ok).toBe(true);
    const t0 = performance.now();
    const got = await runVae(rt, model, io);
    const errs = {
      mean: maxRelError(got.mean, io.t('out.mean')),
      logvar: maxRelError(got.logvar, io.t('out.logvar')),
      latentSample: maxRelError(got.latentSample, io.t('out.latent_sample')),
      sample: maxRelError(got.sample, io.t('out.sample')),
    };
    console.log(`vae-tiny encode+decode ${((performance.now() - t0) / 1000).toFixed(1)} s; max rel errors ${JSON.stringify(Object.fromEntries(Object.entries(errs).map(([k, v]) => [k, v.toExponential(2)])))}`);
    expectClose(got.mean, io.t('out.mean'), 1e-4, 'mean');
    expectClose(got.logvar, io.t('out.logvar'), 1e-4, 'logvar');
    expectClose(got.latentSample, io.t('out.latent_sample'), 1e-4, 'latent sample');
    expectClose(got.sample, io.t('out.sample'), 1e-4, 'decoded sample');
    expect(model.scalingFactor).toBe(0.18215);
  });

  it('loads the old attention spelling (query/key/value/proj_attn, [C, C, 1, 1] weights) and gives the same output', async () => {
    const io = loadGolden('models/vae_tiny.io.safetensors');
    const rt = shared;
    const model = new AutoencoderKL(io.meta.config as Record<string, unknown>);
    const legacy = tensorsOf('vae_tiny.legacy.safetensors');
    expect([...legacy.keys()]).toContain('encoder.mid_block.attentions.0.query.weight');
    expect(legacy.get('decoder.mid_block.attentions.0.proj_attn.weight')!.shape).toEqual([32, 32, 1, 1]);
    const report = await loadStateDict(model, rt, memorySource(legacy)); // the VAE's importRule applies by default
    expect(report.ok).toBe(true);
    expect(report.renamed).toHaveLength(16);
    const got = await runVae(rt, model, io);
    expectClose(got.mean, io.t('out.mean'), 1e-4, 'mean (old spelling)');
    expectClose(got.sample, io.t('out.sample'), 1e-4, 'decoded sample (old spelling)');
  });

  it('refuses a mismatching state_dict before allocating, naming missing, unexpected and wrong-shape tensors', async () => {
    const rt = shared;
    const model = new AutoencoderKL(loadGolden('models/vae_tiny.io.safetensors').meta.config as Record<string, unknown>);
    const tensors = new Map(tensorsOf('vae_tiny.weights.safetensors'));
    tensors.delete('decoder.conv_out.bias');
    tensors.set('encoder.conv_in.weight', { dtype: 'F32', shape: [16, 3, 1, 1], data: new Float32Array(48) });
    tensors.set('encoder.extra.weight', { dtype: 'F32', shape: [2], data: new Float32Array(2) });
    const before = rt.ledger.snapshot().liveByCategory.weights;
    const err = await loadStateDict(model, rt, memorySource(tensors)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateDictMismatchError);
    const r = (err as StateDictMismatchError).report;
    expect(r.missing.map((m) => m.name)).toEqual(['decoder.conv_out.bias']);
    expect(r.unexpected.map((m) => m.name)).toEqual(['encoder.extra.weight']);
    expect(r.wrongShape).toEqual([{ name: 'encoder.conv_in.weight', expected: [16, 3, 3, 3], found: [16, 3, 1, 1] }]);
    expect((err as Error).message).toMatch(/1 missing from the file:\n {2}decoder\.conv_out\.bias \[3\]/);
    expect(rt.ledger.snapshot().liveByCategory.weights).toBe(before);
  });

  it('trains through the decoder with gradient checkpointing: the same gradients as without', async () => {
    const io = loadGolden('models/vae_tiny.io.safetensors');
    const rt = shared;
    const grads: Float32Array[][] = [];
    for (const on of [false, true]) {
      const model = new AutoencoderKL(io.meta.config as Record<string, unknown>);
      await loadStateDict(model, rt, memorySource(tensorsOf('vae_tiny.weights.safetensors')));
      model.setGradientCheckpointing(on);
      const latents = Tensor.fromArray(rt, io.t('in.latents'), io.shape('in.latents'));
      const target = Tensor.fromArray(rt, io.t('in.images'), io.shape('in.images'));
      scope(() => backward(mseLoss(model.decode(latents), target)));
      grads.push(await Promise.all([...model.namedParameters()].filter(([n]) => n.startsWith('decoder.') || n.startsWith('post_quant')).map(([, p]) => p.t.grad!.toArray())));
      model.dispose();
    }
    expect(grads[0].length).toBe(grads[1].length);
    grads[1].forEach((g, i) => expectClose(g, grads[0][i], 1e-5, `checkpointed decoder grad ${i}`));
  });
});
