// What an exported UNet file tells lip sync: the export records the dataset's config, sync reads it back
// (audio features, token window, mask; the crop size from train_config), refuses malformed metadata, and
// loads models that hear a Whisper encoder's tokens only beside an encoder of their layers and width.
import * as ort from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWhisperEncoder, type WhisperEncoder } from '../../src/data/whisper-onnx.ts';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { writeSafetensors } from '../../src/io/safetensors.ts';
import { getPreset } from '../../src/nn/presets.ts';
import { exportStateDict } from '../../src/nn/state-dict.ts';
import { UNet3DConditionModel } from '../../src/nn/unet/unet-3d-condition.ts';
import { AutoencoderKL } from '../../src/nn/vae/autoencoder-kl.ts';
import type { DatasetConfig } from '../../src/store/dataset-store.ts';
import { unetFileFacts } from '../../src/sync/unet-file-facts.ts';
import { exportMetadata } from '../../src/train/checkpoint-export.ts';
import type { SnapshotSource } from '../../src/train/checkpoint-state.ts';
import { presetDefaults } from '../../src/worker/training-service.ts';
import { SyncService } from '../../src/worker/sync-service.ts';
import { buildTinyEncoder } from './data-whisper-model.ts';
import { testRuntime } from '../helpers/gpu.ts';

ort.env.wasm.numThreads = 1;

const ENCODER_DATASET: DatasetConfig = {
  resolution: 16,
  mask: { top: 0.55, bottom: 0.95, side: 0.1 },
  audio: { kind: 'encoder', encoder: 'tiny-whisper.onnx', layers: 5, dim: 16 },
  window: { left: 1, right: 3 },
  fps: 25,
};

/** The metadata an export writes for a unet-tiny checkpoint at step 7 of a run on `dataset`. */
function exported(dataset: DatasetConfig | null): Record<string, string> {
  const config = { ...presetDefaults(getPreset('unet-tiny')), resolution: 16 };
  const state = { config, trainer: { step: 7 }, runId: 'run-1', datasetId: dataset ? 'ds-1' : null };
  return exportMetadata({ state } as unknown as SnapshotSource, dataset);
}

describe('UNet file facts', () => {
  it('reads back what an export recorded of its dataset, and nothing from a file that says nothing', () => {
    const meta = exported(ENCODER_DATASET);
    expect(JSON.parse(meta.dataset_config!)).toEqual(ENCODER_DATASET);
    expect(unetFileFacts(meta)).toEqual({ resolution: 16, audio: ENCODER_DATASET.audio, window: ENCODER_DATASET.window, mask: ENCODER_DATASET.mask });
    // A synthetic run has no dataset: only the crop size.
    expect(exported(null).dataset_config).toBeUndefined();
    expect(unetFileFacts(exported(null))).toEqual({ resolution: 16 });
    expect(unetFileFacts({})).toEqual({});
  });

  it('refuses malformed metadata, naming the field', () => {
    const bad = (key: string, value: string) => () => unetFileFacts({ ...exported(ENCODER_DATASET), [key]: value });
    expect(bad('dataset_config', '{"audio":')).toThrow(/dataset_config is malformed \(not JSON\)/);
    expect(bad('dataset_config', '[1]')).toThrow(/dataset_config is malformed \(not a JSON object\)/);
    expect(bad('dataset_config', JSON.stringify({ audio: { kind: 'encoder', encoder: 'x', layers: 0, dim: 16 } }))).toThrow(/dataset_config\.audio is malformed/);
    expect(bad('dataset_config', JSON.stringify({ audio: { kind: 'mfcc' } }))).toThrow(/dataset_config\.audio is malformed/);
    expect(bad('dataset_config', JSON.stringify({ window: { left: -1, right: 2 } }))).toThrow(/dataset_config\.window is malformed/);
    expect(bad('dataset_config', JSON.stringify({ mask: { top: 0.9, bottom: 0.5, side: 0 } }))).toThrow(/dataset_config\.mask is malformed \(the mask bottom must be below its top\)/);
    expect(bad('train_config', JSON.stringify({ resolution: 'big' }))).toThrow(/train_config\.resolution is malformed/);
  });
});

describe('lip sync loads what the UNet file says it heard (Dawn)', { timeout: 300_000 }, () => {
  let rt: GpuRuntime;
  let unetBytes: (meta: Record<string, string>) => ArrayBuffer;
  let vae: ArrayBuffer;
  let encoder: WhisperEncoder | null = null;
  let narrow: WhisperEncoder;
  let loaded: WhisperEncoder | null = null;
  const service = () => new SyncService({ runtime: () => rt, audioEncoder: () => loaded });
  const failureOf = (p: Promise<unknown>) => p.then(() => null, (f: { code: string; message: string; action: string }) => f);

  beforeAll(async () => {
    rt = await testRuntime({ pooling: false });
    // unet-tiny's cross-attention is 16 wide: the tiny encoder's 5 layers of 16 go straight in
    const unet = new UNet3DConditionModel(getPreset('unet-tiny').config).materialize(rt, { seed: 2, requiresGrad: false });
    const weights = await exportStateDict(unet);
    unet.dispose();
    unetBytes = (meta) => (writeSafetensors(weights, { config: JSON.stringify(getPreset('unet-tiny').config), ...meta }) as Uint8Array).slice().buffer;
    const v = new AutoencoderKL(getPreset('vae-tiny').config).materialize(rt, { seed: 3, requiresGrad: false });
    vae = (writeSafetensors(await exportStateDict(v), { config: JSON.stringify(v.config) }) as Uint8Array).slice().buffer;
    v.dispose();
    encoder = await loadWhisperEncoder(ort, buildTinyEncoder({ dim: 16, layers: 5, hiddenStates: true }), { providers: ['wasm'], name: 'tiny-whisper.onnx' });
    narrow = await loadWhisperEncoder(ort, buildTinyEncoder({ dim: 8, layers: 5, hiddenStates: true }), { providers: ['wasm'], name: 'narrow.onnx' });
  });

  afterAll(async () => {
    await encoder?.release();
    await narrow?.release();
    rt?.destroy();
  });

  it('takes resolution, features, window and mask from an export, and the caller overrides them', async () => {
    loaded = encoder;
    const s = service();
    const info = await s.loadModels({ unet: unetBytes(exported(ENCODER_DATASET)), vae });
    expect([info.resolution, info.audio, info.audioWindow, info.mask]).toEqual([16, ENCODER_DATASET.audio, ENCODER_DATASET.window, ENCODER_DATASET.mask]);
    const given = await s.loadModels({ unet: unetBytes(exported(ENCODER_DATASET)), vae, resolution: 32, audio: { kind: 'logmel', nMels: 80 }, mask: { top: 0.5, bottom: 1, side: 0 } });
    expect([given.resolution, given.audio, given.audioWindow, given.mask]).toEqual([32, { kind: 'logmel', nMels: 80 }, ENCODER_DATASET.window, { top: 0.5, bottom: 1, side: 0 }]);
    await s.unloadModels();
  });

  it('refuses models that hear an encoder when none or another is loaded, keeping nothing on the GPU', async () => {
    const before = rt.ledger.snapshot().live;
    loaded = null;
    const none = await failureOf(service().loadModels({ unet: unetBytes(exported(ENCODER_DATASET)), vae }));
    expect(none?.code).toBe('sync-state');
    expect(none?.message).toMatch(/tiny-whisper\.onnx \(5 layers of width 16\), and no audio encoder is loaded/);
    expect(none?.action).toMatch(/Load tiny-whisper\.onnx/);
    loaded = narrow;
    const other = await failureOf(service().loadModels({ unet: unetBytes(exported(ENCODER_DATASET)), vae }));
    expect(other?.code).toBe('bad-request');
    expect(other?.message).toMatch(/^The loaded audio encoder does not fit: the models hear 5 layers of width 16 from tiny-whisper\.onnx; the encoder narrow\.onnx gives 5 layers of width 8\.$/);
    expect(rt.ledger.snapshot().live).toBe(before);
  });

  it('refuses a file whose recorded dataset config is malformed, saying what to do', async () => {
    const f = await failureOf(service().loadModels({ unet: unetBytes({ ...exported(ENCODER_DATASET), dataset_config: '{"mask":{"top":2}}' }), vae }));
    expect(f?.code).toBe('bad-request');
    expect(f?.message).toMatch(/dataset_config\.mask is malformed/);
    expect(f?.action).toMatch(/export the checkpoint again/);
  });
});
