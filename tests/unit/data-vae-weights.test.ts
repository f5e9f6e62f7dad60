// The dataset's VAE from a weights file on Dawn: the file's weights (and its config's scaling_factor) are
// what encodes, a file of another model is refused with what to do, and the id follows the bytes.
import { describe, expect, it } from 'vitest';
import { buildVae, VaeLoadError } from '../../src/data/vae-weights.ts';
import { writeSafetensors } from '../../src/io/safetensors.ts';
import { modelFromPreset } from '../../src/nn/presets.ts';
import { exportStateDict } from '../../src/nn/state-dict.ts';
import type { AutoencoderKL } from '../../src/nn/vae/autoencoder-kl.ts';
import { scope } from '../../src/tensor/scope.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { testRuntime } from '../helpers/gpu.ts';

const bytesOf = (b: { byteLength: number } & ArrayBufferView): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

describe('buildVae', () => {
  it('loads a vae-tiny file: same encoding as the model it came from, scaling_factor from its config', async () => {
    const rt = await testRuntime({ pooling: false });
    const source = (modelFromPreset('vae-tiny') as AutoencoderKL).materialize(rt, { seed: 11, requiresGrad: false });
    const file = writeSafetensors(await exportStateDict(source), { config: JSON.stringify({ ...source.config, scaling_factor: 3.5 }) });
    const { vae, info } = await buildVae(rt, 'vae-tiny', bytesOf(file as Uint8Array));
    expect(info).toMatchObject({ preset: 'vae-tiny', source: 'file', factor: 2, latentChannels: 4, scalingFactor: 3.5, parameters: source.parameterCount() });
    expect(info.id).toMatch(/^vae:vae-tiny:[0-9a-f]{16}$/);
    const x = Float32Array.from({ length: 3 * 16 * 16 }, (_, i) => Math.cos(i * 0.07));
    const enc = (m: AutoencoderKL) => scope(() => m.encode(Tensor.fromArray(rt, x, [1, 3, 16, 16])).mean).toArray();
    expect(Array.from(await enc(vae))).toEqual(Array.from(await enc(source)));

    // Another seed: other bytes, another id (latents cached by the first are stale for it).
    const other = (modelFromPreset('vae-tiny') as AutoencoderKL).materialize(rt, { seed: 12, requiresGrad: false });
    const second = await buildVae(rt, 'vae-tiny', bytesOf(writeSafetensors(await exportStateDict(other)) as Uint8Array));
    expect(second.info.id).not.toBe(info.id);
    expect(second.info.scalingFactor).toBe(source.config.scaling_factor);
    for (const m of [vae, source, other, second.vae]) m.dispose();
  });

  it('refuses a file of another model, a broken file and a UNet preset, saying what to do', async () => {
    const rt = await testRuntime({ pooling: false });
    const unet = modelFromPreset('unet-tiny').materialize(rt, { seed: 1, requiresGrad: false });
    const unetFile = bytesOf(writeSafetensors(await exportStateDict(unet)) as Uint8Array);
    unet.dispose();
    const live = rt.ledger.snapshot().live;
    const refusal = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e);
    const wrong = await refusal(buildVae(rt, 'vae-tiny', unetFile));
    expect(wrong).toBeInstanceOf(VaeLoadError);
    expect((wrong as VaeLoadError).message).toMatch(/^These weights are not a vae-tiny VAE \(0 tensors match\)\.$/);
    expect((wrong as VaeLoadError).action).toMatch(/missing from the file/);
    const broken = await refusal(buildVae(rt, 'vae-tiny', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]).buffer));
    expect((broken as VaeLoadError).message).toMatch(/^The VAE file could not be read/);
    expect(((await refusal(buildVae(rt, 'unet-tiny', null))) as VaeLoadError).message).toBe('unet-tiny is a UNet preset, not a VAE.');
    // Nothing of a refused load stays on the GPU.
    expect(rt.ledger.snapshot().live).toBe(live);
  });
});
