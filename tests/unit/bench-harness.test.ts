// The benchmark harness at tiny shapes: the ops suite's rows and results files, the peer comparison's
// output check (a wrong peer is flagged, a refusing one skipped), the autotune's cache, and the training
// step row's TF.js UNet (same function and update as ours, checked on TF.js's CPU backend).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { renderOps, type OpsFile } from '../../bench/ops.ts';
import { renderPeers, type PeersFile } from '../../bench/peers.ts';
import { analyseTrainStep, peakRatio, renderTrainStep, type TrainStepFile } from '../../bench/train-step.ts';
import { applyTiles, autotune, clearTuneMemory, DEFAULT_TILES, tileCandidates } from '../../bench/lib/autotune.ts';
import { fileStore } from '../../bench/lib/autotune-file.ts';
import { header, latestPerAdapter, writeJson } from '../../bench/lib/results.ts';
import { maxRelError } from '../../bench/lib/stats.ts';
import { GpuTimer } from '../../bench/lib/timer.ts';
import { compareRows } from '../../bench/peers/compare.ts';
import { OursPeer } from '../../bench/peers/ours.ts';
import type { Peer } from '../../bench/peers/peer.ts';
import type { PeerRow } from '../../bench/peers/rows.ts';
import { measureCeiling } from '../../bench/suites/ceiling.ts';
import { ourForward, runTrainStep } from '../../bench/suites/train-step.ts';
import { TfjsUnet } from '../../bench/peers/tfjs-unet.ts';
import { nhwcToNchw } from '../../bench/peers/peer.ts';
import { DEFAULT_TRAIN, type TrainConfig } from '../../src/train/config.ts';
import { planningClips } from '../../src/train/plan.ts';
import { UnetTraining } from '../../src/train/unet-training.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { runOps } from '../../bench/suites/ops.ts';
import { nodeGpu } from '../../src/gpu/node-gpu.ts';
import { conv2dTiles } from '../../src/tensor/ops/conv2d.ts';
import { matmulTiles } from '../../src/tensor/ops/matmul.ts';
import { testRuntime } from '../helpers/gpu.ts';

const fast = { warmup: 0, repeats: 1, minRepeats: 1 };
const tmp = mkdtempSync(join(tmpdir(), 'latent-lab-bench-'));
const tmpUrl = pathToFileURL(tmp + '/');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('ops suite', () => {
  it('times forward and backward of each op against the ceiling and writes the results files', async () => {
    const rt = await testRuntime();
    const timer = new GpuTimer(rt.device);
    const ceiling = await measureCeiling(rt, timer, { ...fast, size: 0.02 });
    expect(ceiling.gflops).toBeGreaterThan(0);
    expect(ceiling.gbps).toBeGreaterThan(0);
    const rows = await runOps(rt, timer, ceiling, { ...fast, scale: 'tiny', only: ['matmul 32', 'conv2d 3x3 s1', 'group_norm', 'attention cross', 'mse', 'adamw'] });
    expect(rows.map((r) => r.op)).toEqual(['matmul', 'conv2d', 'group_norm', 'attention', 'mse', 'adamw']);
    for (const r of rows) {
      expect(r.fwd.ms).toBeGreaterThan(0);
      expect(r.fwd.ofCeiling).toBeGreaterThan(0);
      expect(r.bwd === undefined).toBe(r.op === 'adamw');
      if (r.bwd) expect(r.bwd.ms).toBeGreaterThan(0);
    }
    const file: OpsFile = { ...header('ops', 'test-adapter', 'node (Dawn)', timer.method), scale: 'tiny', tiles: {}, ceiling, rows };
    writeJson('ops', 'test-adapter', file, tmpUrl);
    const [back] = latestPerAdapter<OpsFile>('ops', tmpUrl);
    expect(back.rows.map((r) => r.name)).toEqual(rows.map((r) => r.name));
    const md = renderOps([back]);
    for (const r of rows) expect(md).toContain(`| ${r.name} |`);
    timer.destroy();
  });
});

/** Stand-in peers for the matmul row: exact (host GEMM), wrong (off by 1%), refusing. */
function hostPeer(name: string, bias: number): Peer {
  const gemm = (a: Float32Array, b: Float32Array, M: number, K: number, N: number, ta = false, tb = false) => {
    const y = new Float32Array(M * N);
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
      y[i * N + j] = s * (1 + bias);
    }
    return y;
  };
  return {
    name,
    version: '0',
    trains: true,
    init: async () => {},
    prepare: async (row: PeerRow, mode, [a, b], gy) => {
      if (row.spec.kind !== 'matmul') return 'matmul only';
      const { M, K, N } = row.spec;
      // forward y = a b; gradients of sum(y * gy): da = gy b^T, db = a^T gy
      const outs = () => (mode === 'fwd' ? [gemm(a, b, M, K, N)] : [gemm(gy, b, M, N, K, false, true), gemm(a, gy, K, M, N, true, false)]);
      return { run: async () => void outs(), read: async () => outs(), dispose: () => {} };
    },
  };
}

describe('peer comparison', () => {
  it('checks every peer output against ours: a wrong answer is flagged, a refusal is skipped', async () => {
    const ours = new OursPeer();
    await ours.init(await nodeGpu());
    const refusing: Peer = { ...hostPeer('refusing', 0), prepare: async () => 'cannot express this op' };
    const inference: Peer = { ...hostPeer('inference-only', 0), trains: false };
    const peers = [hostPeer('exact', 0), hostPeer('wrong', 0.01), refusing, inference];
    const rows = await compareRows(ours, peers, { scale: 'tiny', tolerance: 1e-4, only: ['matmul'], ...fast, budgetMs: 0 });
    expect(rows.map((r) => r.mode)).toEqual(['fwd', 'fwdbwd']);
    for (const r of rows) {
      expect(r.ours.wallMs).toBeGreaterThan(0);
      expect(r.peers.exact.ok).toBe(true);
      expect(r.peers.exact.maxError).toBeLessThan(1e-5);
      expect(r.peers.exact.speedup).toBeGreaterThan(0);
      expect(r.peers.wrong.ok).toBe(false);
      expect(r.peers.wrong.maxError).toBeGreaterThan(5e-3);
      expect(r.peers.refusing.skipped).toBe('cannot express this op');
    }
    expect(rows[0].peers['inference-only'].ok).toBe(true);
    expect(rows[1].peers['inference-only'].skipped).toMatch(/does not train/);
    const file: PeersFile = {
      ...header('peers', 'test-adapter', 'node', 'wall'),
      scale: 'tiny',
      tolerance: 1e-4,
      adapter: 'test-adapter',
      userAgent: '',
      timing: 'wall',
      tiles: { matmul: matmulTiles, conv2d: conv2dTiles },
      ceiling: { gflops: 1, gbps: 1, copyBufferGbps: 1, barrierUs: 1, details: [] },
      peers: Object.fromEntries(peers.map((p) => [p.name, p.version])),
      skipped: {},
      rows,
      analysis: [],
    };
    const md = renderPeers([file]);
    expect(md).toMatch(/\| matmul 16x24x8 \| fwd \|.*✗/);
    expect(md).toContain('refusing: cannot express this op');
  });

  it('measures scaled max error, and NaN is never within tolerance', () => {
    expect(maxRelError([1, 2, 4], [1, 2, 4])).toBe(0);
    expect(maxRelError([1, 2, 4.04], [1, 2, 4])).toBeCloseTo(0.01, 6);
    expect(maxRelError([NaN, 2], [1, 2])).toBe(Infinity);
    expect(maxRelError([1], [1, 2])).toBe(Infinity);
  });
});

describe('autotune', () => {
  it('measures the tile candidates once, then answers from memory and from its file', async () => {
    const rt = await testRuntime();
    const timer = new GpuTimer(rt.device);
    const store = fileStore(join(tmp, 'autotune.json'));
    clearTuneMemory();
    try {
      for (const t of tileCandidates('conv2d', rt.limits)) expect(t.WG_Y % 2).toBe(0);
      const first = await autotune(rt, timer, 'test-adapter', { ...fast, store, shapes: 'tiny' });
      expect(first.source).toBe('measured');
      for (const k of ['matmul', 'conv2d'] as const) {
        const t = first.kernels[k]!;
        expect(t.candidates.length).toBe(tileCandidates(k, rt.limits).length);
        expect(t.candidates.filter((c) => c.ms !== null).length).toBeGreaterThan(0);
        expect(t.gain).toBeGreaterThanOrEqual(1);
      }
      expect({ ...matmulTiles }).toEqual(first.kernels.matmul!.best);
      expect({ ...conv2dTiles }).toEqual(first.kernels.conv2d!.best);
      expect((await autotune(rt, timer, 'test-adapter', { store })).source).toBe('memory');
      clearTuneMemory();
      expect((await autotune(rt, timer, 'test-adapter', { store })).source).toBe('store');
      expect(JSON.parse(readFileSync(store.path, 'utf8'))['test-adapter'].kernels.matmul.best).toEqual(first.kernels.matmul!.best);
    } finally {
      applyTiles('matmul', DEFAULT_TILES.matmul);
      applyTiles('conv2d', DEFAULT_TILES.conv2d);
      clearTuneMemory();
      timer.destroy();
    }
  });
});

describe('training step vs TF.js', () => {
  // 4x4 latents, 2 frames: every block type of unet-tiny, small enough for SwiftShader and TF.js's CPU backend.
  const config: TrainConfig = { ...DEFAULT_TRAIN, preset: 'unet-tiny', resolution: 8, frames: 2, audioTokens: 3, audioDim: 16, lr: 1e-3 };

  it('the TF.js UNet from our state dict computes our forward, loss, gradients and AdamW update; memory is reported', { timeout: 600_000 }, async () => {
    await tf.setBackend('cpu');
    const rt = await testRuntime();
    const r = await runTrainStep(rt, config, { warmup: 0, repeats: 1, tolerance: 1e-3, log: console.log });
    expect(r.check.forwardError).toBeLessThan(1e-3);
    expect(r.check.lossError).toBeLessThan(1e-3);
    expect(r.check.gradError).toBeLessThan(1e-3);
    expect(r.check.lossAfterStepError).toBeLessThan(1e-3);
    // The update changed the weights enough to move the loss (so the comparison after the step means something).
    expect(Math.abs(r.check.lossAfterStepOurs - r.check.lossOurs)).toBeGreaterThan(1e-3 * r.check.lossOurs);
    expect(r.check.ok).toBe(true);
    expect(r.check.gradsChecked).toBe(208);
    expect(r.shape).toMatchObject({ n: 2, frames: 2, h: 4, w: 4 });
    // Weights, gradients, AdamW's two moments: at least 4x the parameter bytes, in both ledgers.
    expect(r.ours.memory.peakLive).toBeGreaterThanOrEqual(4 * r.parameterBytes);
    expect(r.ours.memory.peak).toBeGreaterThanOrEqual(r.ours.memory.peakLive);
    expect(r.tfjs.memory.profilePeakBytes).toBeGreaterThanOrEqual(4 * r.parameterBytes);
    expect(r.tfjs.memory.peakUsedBytes).toBeNull(); // the CPU backend has no buffer manager
    expect(r.ours.samples.length).toBe(1);
    expect(r.ours.dispatchesPerStep).toBeGreaterThan(208); // at least one AdamW dispatch per parameter
    expect(r.tfjs.kernelsPerStep).toBeGreaterThan(208);
    expect(r.speedup).toBeGreaterThan(0);
    // Without a buffer manager the peak ratio falls back to tf.profile's peak; the results file says so in words.
    const file: TrainStepFile = { ...header('train-step', 'test-adapter', 'node', 'wall'), ...r, adapter: 'test-adapter', userAgent: '', tfjsVersion: tf.version.tfjs, tolerance: 1e-3 };
    expect(peakRatio(file)).toBeCloseTo(r.ours.memory.peak / r.tfjs.memory.profilePeakBytes!, 10);
    file.analysis = analyseTrainStep(file);
    const md = renderTrainStep([file]);
    expect(md).toContain('**same function and update**');
    expect(md).toMatch(/\| \*\*ratio\*\* \|.*\*\*\d+\.\d\dx\*\* \(ours \/ TF\.js\)/);
    expect(md).toContain(`worst of 208 gradients`);
  });

  it('notices a TF.js forward that pools GroupNorm statistics differently (frames not pooled)', { timeout: 600_000 }, async () => {
    await tf.setBackend('cpu');
    const rt = await testRuntime();
    const training = new UnetTraining(rt, config, planningClips(config));
    try {
      const params = [...training.model.namedParameters()];
      const data = await Tensor.readAll(params.map(([, p]) => p.t));
      const model = new TfjsUnet(training.model.config as unknown as Record<string, unknown>, params.map(([name, p], i) => ({ name, shape: p.t.shape, data: data[i] })));
      const [batch] = training.nextMicroBatches();
      const { n, h, w, frames } = batch.shape;
      const ours = await ourForward(training, batch);
      const errorWith = async (f: number) => {
        const y = tf.tidy(() => {
          const { x, t, ctx } = model.inputs(batch);
          return model.forward(x, t, ctx, f);
        });
        const e = maxRelError(nhwcToNchw((await y.data()) as Float32Array, n, 4, h, w), ours);
        y.dispose();
        return e;
      };
      expect(await errorWith(frames)).toBeLessThan(1e-4);
      expect(await errorWith(1)).toBeGreaterThan(1e-2);
      model.dispose();
    } finally {
      training.dispose();
    }
  });
});
