/**
 * The peer comparison, in one page on one adapter (issue 11): for each row, ours first (the reference
 * output, wall and GPU-timestamp times), then each peer: its output checked against ours, then timed the
 * same way (warm-up, median of repeats, wall time to the library's own GPU completion). A peer whose
 * output disagrees is timed but its ratio does not count. Driven by bench/peers.ts through
 * window.peerBench(config); window.opsBench(config) runs the ops suite here (npm run bench -- ops --browser).
 */
import { conv2dTiles } from '../../src/tensor/ops/conv2d.ts';
import { matmulTiles } from '../../src/tensor/ops/matmul.ts';
import { autotune } from '../lib/autotune.ts';
import { measureCeiling } from '../suites/ceiling.ts';
import { runOps } from '../suites/ops.ts';
import { compareRows } from './compare.ts';
import { JaxjsPeer } from './jaxjs.ts';
import { OrtPeer } from './ort.ts';
import { OursPeer } from './ours.ts';
import type { Peer } from './peer.ts';
import type { OpsPageConfig, OpsPageResult, PeerBenchConfig, PeerBenchResult } from './types.ts';

const log = (s: string) => console.log(s);

async function peerBench(cfg: PeerBenchConfig): Promise<PeerBenchResult> {
  const ours = new OursPeer();
  await ours.init(navigator.gpu);
  if (cfg.autotune) {
    const t = await autotune(ours.rt, ours.timer, ours.adapter, { log });
    log(`tiles from the autotune (${t.source}): ${Object.entries(t.kernels).map(([k, v]) => `${k} ${JSON.stringify(v.best)}`).join(', ')}`);
  }
  const ceiling = await measureCeiling(ours.rt, ours.timer, { size: 0.25, warmup: 1, repeats: 3 });
  log(`ceiling: ${ceiling.gflops.toFixed(2)} GFLOP/s, ${ceiling.gbps.toFixed(2)} GB/s, ${ceiling.barrierUs.toFixed(1)} µs per workgroup barrier`);
  const candidates: Peer[] = [new OrtPeer(), new TfjsPeerLazy(), new JaxjsPeer()].filter((p) => !cfg.peers || cfg.peers.some((n) => p.name.toLowerCase().includes(n)));
  const peers: Peer[] = [];
  const skipped: Record<string, string> = {};
  for (const p of candidates) {
    try {
      await p.init();
      peers.push(p);
      log(`peer ${p.name} ${p.version}: ready`);
    } catch (e) {
      skipped[p.name] = `could not start: ${(e as Error).message}`;
      log(`peer ${p.name}: ${skipped[p.name]}`);
    }
  }
  const rows = await compareRows(ours, peers, cfg, log);
  return {
    adapter: ours.adapter,
    userAgent: navigator.userAgent,
    timing: ours.timer.method,
    ceiling,
    tiles: { matmul: { ...matmulTiles }, conv2d: { ...conv2dTiles } },
    peers: Object.fromEntries(peers.map((p) => [p.name, p.version])),
    skipped,
    rows,
  };
}

/** The ops suite (bench/suites/ops.ts) in this page: `npm run bench -- ops --browser`. */
async function opsBench(cfg: OpsPageConfig): Promise<OpsPageResult> {
  const ours = new OursPeer();
  await ours.init(navigator.gpu);
  const opts = { warmup: cfg.warmup, repeats: cfg.repeats, minRepeats: cfg.minRepeats, budgetMs: cfg.budgetMs };
  const ceiling = await measureCeiling(ours.rt, ours.timer, { ...opts, size: cfg.scale === 'tiny' ? 0.05 : 1 });
  log(`ceiling: ${ceiling.gflops.toFixed(2)} GFLOP/s, ${ceiling.gbps.toFixed(2)} GB/s`);
  const rows = await runOps(ours.rt, ours.timer, ceiling, { ...opts, scale: cfg.scale, only: cfg.only, onRow: (r) => log(`${r.name}: fwd ${r.fwd.ms.toFixed(1)} ms, bwd ${r.bwd ? r.bwd.ms.toFixed(1) : '-'} ms`) });
  return { adapter: ours.adapter, userAgent: navigator.userAgent, timing: ours.timer.method, tiles: { matmul: { ...matmulTiles }, conv2d: { ...conv2dTiles } }, ceiling, rows };
}

/** TF.js is imported when it is asked for (it registers backends on import). */
class TfjsPeerLazy implements Peer {
  name = 'TF.js webgpu';
  version = '';
  trains = true;
  private inner: Peer | null = null;
  async init() {
    const { TfjsPeer } = await import('./tfjs.ts');
    this.inner = new TfjsPeer();
    this.version = this.inner.version;
    await this.inner.init();
  }
  prepare(...a: Parameters<Peer['prepare']>) {
    return this.inner!.prepare(...a);
  }
}

/** The training-step row (bench/train-step.ts), loaded when it is asked for. */
async function trainStepBench(cfg: import('./train-step-page.ts').TrainStepPageConfig) {
  const { trainStepPage } = await import('./train-step-page.ts');
  return trainStepPage(cfg);
}

(window as unknown as { trainStepBench: typeof trainStepBench }).trainStepBench = trainStepBench;
(window as unknown as { peerBench: typeof peerBench; opsBench: typeof opsBench }).peerBench = peerBench;
(window as unknown as { opsBench: typeof opsBench }).opsBench = opsBench;
(window as unknown as { peerBenchReady: boolean }).peerBenchReady = true;
