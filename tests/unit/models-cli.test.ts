import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { summarize } from '../../src/cli/verbs/inspect.ts';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.ts';
import { writeTorchCheckpoint } from '../../src/io/torch-pt.ts';
import { getPreset, modelFromConfig, modelFromPreset, PRESETS } from '../../src/nn/presets.ts';
import { expectClose, FIXTURES, loadGolden } from '../helpers/golden.ts';

/** `npm run lab -- inspect | forward` as a user runs them (a child process on Dawn), and the counts behind them. */
const ROOT = join(import.meta.dirname, '..', '..');
const MODELS = join(FIXTURES, 'models');

function lab(...args: string[]): string {
  const r = spawnSync(process.execPath, ['--no-warnings', '--import', 'tsx', '--import', './tools/register-hooks.mjs', 'src/cli/lab.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 110_000,
  });
  if (r.status !== 0) throw new Error(`lab ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

describe('model counts on the meta device', () => {
  it('gives the published parameter counts for the real presets', () => {
    const expected: Record<string, [number, number]> = {
      'latentsync-stage1-256': [849_962_244, 686],
      'latentsync-stage1-512': [849_962_244, 686],
      'sd-vae-ft-mse': [83_653_863, 248],
      'unet-tiny': [790_436, 208],
      'vae-tiny': [167_959, 124],
    };
    expect(Object.keys(PRESETS).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, [params, tensors]] of Object.entries(expected)) {
      const s = summarize(modelFromPreset(name));
      expect([s.parameters, s.tensors], name).toEqual([params, tensors]);
      expect(s.weightBytes.f32.tensors).toBe(params * 4);
      expect(s.weightBytes.f16.ledger).toBeLessThan(s.weightBytes.f32.ledger);
      expect(s.weightBytes.f32.ledger).toBeGreaterThanOrEqual(s.weightBytes.f32.tensors);
    }
  });

  it("reads LatentSync's YAML model section (no _class_name, motion-module keys) and refuses motion modules on", () => {
    const yaml: Record<string, unknown> = { ...getPreset('latentsync-stage1-256').config, sample_size: 64, motion_module_resolutions: [1, 2, 4, 8], motion_module_kwargs: { num_attention_heads: 8 } };
    delete yaml._class_name;
    expect(modelFromConfig(yaml).parameterCount()).toBe(849_962_244);
    expect(() => modelFromConfig({ ...yaml, use_motion_module: true })).toThrow(/use_motion_module true/);
    expect(() => modelFromConfig({ ...yaml, use_linear_projection: true })).toThrow(/use_linear_projection/);
  });
});

describe('lab inspect', () => {
  it('prints 849962244 for both stage-1 presets', () => {
    for (const preset of ['latentsync-stage1-256', 'latentsync-stage1-512']) {
      const out = JSON.parse(lab('inspect', '--preset', preset, '--json'));
      expect(out.parameters).toBe(849962244);
      expect(out.tensors).toBe(686);
      expect(out.weightBytes.f16.tensors).toBe(849962244 * 2);
    }
  });

  it('lists a weights file and says how it matches (old VAE spelling renamed; a UNet file against the VAE)', () => {
    const legacy = JSON.parse(lab('inspect', '--weights', join(MODELS, 'vae_tiny.legacy.safetensors'), '--preset', 'vae-tiny', '--json'));
    expect(legacy.format).toBe('safetensors');
    expect(legacy.tensorCount).toBe(124);
    expect(legacy.tensors.find((t: { name: string }) => t.name === 'encoder.mid_block.attentions.0.query.weight')).toEqual({
      name: 'encoder.mid_block.attentions.0.query.weight',
      dtype: 'F16',
      shape: [32, 32, 1, 1],
      bytes: 2048,
    });
    expect(legacy.match.ok).toBe(true);
    expect(legacy.match.renamed).toHaveLength(16);

    const wrong = JSON.parse(lab('inspect', '--weights', join(MODELS, 'unet_tiny.weights.safetensors'), '--config', join(MODELS, 'vae_tiny.config.json'), '--json'));
    expect(wrong.match.ok).toBe(false);
    expect(wrong.match.missing).toHaveLength(124);
    expect(wrong.match.unexpected).toHaveLength(208);

    // No model named: the best-matching preset is reported.
    const guessed = JSON.parse(lab('inspect', '--weights', join(MODELS, 'unet_tiny.weights.safetensors'), '--json'));
    expect(guessed.match.against).toBe('preset unet-tiny (best match)');
    expect(guessed.match.ok).toBe(true);
  });
});

describe('lab forward', () => {
  const dir = mkdtempSync(join(tmpdir(), 'latent-lab-forward-'));
  const raw = (file: string) => readSafetensors(readFileSync(join(MODELS, file))).tensors;

  it('runs the UNet on [B, 13, F, H, W] inputs like the reference', () => {
    const io = raw('unet_tiny.io.safetensors');
    const inputs = join(dir, 'unet-in.safetensors');
    writeFileSync(inputs, writeSafetensors({ sample: io.get('in.sample')!, timestep: io.get('in.timestep')!, encoder_hidden_states: io.get('in.encoder_hidden_states')! }));
    const out = join(dir, 'unet-out.safetensors');
    lab('forward', '--config', join(MODELS, 'unet_tiny.config.json'), '--weights', join(MODELS, 'unet_tiny.weights.safetensors'), '--inputs', inputs, '--out', out);
    const y = readSafetensors(readFileSync(out)).tensors.get('sample')!;
    const golden = loadGolden('models/unet_tiny.io.safetensors');
    expect(y.shape).toEqual(golden.shape('out.sample'));
    expectClose(new Float32Array(y.data.slice().buffer), golden.t('out.sample'), 1e-4, 'lab forward UNet');
  });

  it('encodes and decodes with the VAE, weights from a LatentSync-style .pt in the old spelling', () => {
    const io = raw('vae_tiny.io.safetensors');
    const inputs = join(dir, 'vae-in.safetensors');
    writeFileSync(inputs, writeSafetensors({ images: io.get('in.images')!, latents: io.get('in.latents')! }));
    const pt = join(dir, 'vae.pt');
    writeFileSync(pt, writeTorchCheckpoint({ globalStep: 7, stateDict: raw('vae_tiny.legacy.safetensors') }));
    const out = join(dir, 'vae-out.safetensors');
    lab('forward', '--config', join(MODELS, 'vae_tiny.config.json'), '--weights', pt, '--inputs', inputs, '--out', out);
    const y = readSafetensors(readFileSync(out)).tensors;
    const golden = loadGolden('models/vae_tiny.io.safetensors');
    for (const [name, ref] of [['mean', 'out.mean'], ['logvar', 'out.logvar'], ['sample', 'out.sample']]) {
      expectClose(new Float32Array(y.get(name)!.data.slice().buffer), golden.t(ref), 1e-4, `lab forward VAE ${name}`);
    }
  });
});
