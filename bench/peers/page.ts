/**
 * The peer comparison, in one page on one adapter (issue 11): for each row, ours first (the reference
 * output, wall and GPU-timestamp times), then each peer: its output checked against ours, then timed the
 * same way (warm-up, median of repeats, wall time to the library's own GPU completion). A peer whose
 * output disagrees is timed but its ratio does not count. Driven by bench/peers.ts through
 * window.peerBench(config).
 */
import { maxRelError } from '../lib/stats.ts';
import { randn, numel } from '../lib/random.ts';
import { measureWall, type MeasureOptions } from '../lib/timer.ts';
import { JaxjsPeer } from './jaxjs.ts';
import { OrtPeer } from './ort.ts';
import { OursPeer } from './ours.ts';
import type { Peer, Prepared } from './peer.ts';
import { peerRows, rowInputs, rowOutput, type PeerScale } from './rows.ts';
import type { PeerBenchConfig, PeerBenchResult, PeerCell, PeerRowResult } from './types.ts';

const log = (s: string) => console.log(s);

async function timeCell(p: Prepared, opts: MeasureOptions) {
  return measureWall(() => p.run(), opts);
}

async function peerBench(cfg: PeerBenchConfig): Promise<PeerBenchResult> {
  const opts: MeasureOptions = { warmup: cfg.warmup, repeats: cfg.repeats, minRepeats: cfg.minRepeats, budgetMs: cfg.budgetMs };
  const ours = new OursPeer();
  await ours.init();
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
  const rows: PeerRowResult[] = [];
  for (const [ri, row] of peerRows(cfg.scale as PeerScale).entries()) {
    if (cfg.only && !cfg.only.some((o) => row.id.includes(o))) continue;
    const inputs = rowInputs(row.spec).map((s, i) => randn(numel(s), 100 * ri + i, 0.5));
    const gy = randn(numel(rowOutput(row.spec)), 100 * ri + 99, 0.5);
    for (const mode of row.backward ? (['fwd', 'fwdbwd'] as const) : (['fwd'] as const)) {
      const mine = await ours.prepare(row, mode, inputs, gy);
      const reference = await mine.read();
      const d0 = ours.rt.dispatches;
      await mine.run();
      const dispatches = ours.rt.dispatches - d0;
      const t = await ours.timer.measure({ run: () => mine.run() }, opts);
      await mine.dispose();
      const result: PeerRowResult = { id: row.id, spec: row.spec, mode, flops: row.flops * (mode === 'fwd' ? 1 : 3), ours: { wallMs: t.wallMs, gpuMs: t.method === 'gpu-timestamp' ? t.ms : null, samples: t.samples, dispatches }, peers: {} };
      log(`${row.id} ${mode}: ours ${t.wallMs.toFixed(1)} ms wall${result.ours.gpuMs ? `, ${result.ours.gpuMs.toFixed(1)} ms gpu` : ''}, ${dispatches} dispatches`);
      for (const p of peers) {
        const cell: PeerCell = { ok: false };
        result.peers[p.name] = cell;
        if (mode === 'fwdbwd' && !p.trains) {
          cell.skipped = `${p.name} does not train`;
          continue;
        }
        let prep: Prepared | string;
        try {
          prep = await p.prepare(row, mode, inputs, gy);
        } catch (e) {
          prep = `failed to prepare: ${(e as Error).message.slice(0, 300)}`;
        }
        if (typeof prep === 'string') {
          cell.skipped = prep;
          log(`  ${p.name}: skipped (${prep})`);
          continue;
        }
        try {
          const out = await prep.read();
          cell.maxError = Math.max(...reference.map((r, i) => maxRelError(out[i] ?? new Float32Array(0), r)));
          cell.ok = cell.maxError <= cfg.tolerance;
          const tp = await timeCell(prep, opts);
          cell.wallMs = tp.ms;
          cell.samples = tp.samples;
          cell.speedup = tp.ms / t.wallMs;
          log(`  ${p.name}: ${tp.ms.toFixed(1)} ms, ours is ${cell.speedup.toFixed(2)}x as fast, max error ${cell.maxError.toExponential(1)}${cell.ok ? '' : ' MISMATCH'}`);
        } catch (e) {
          cell.skipped = `failed: ${(e as Error).message.slice(0, 300)}`;
          log(`  ${p.name}: ${cell.skipped}`);
        } finally {
          await prep.dispose();
        }
      }
      rows.push(result);
    }
  }
  return {
    adapter: ours.adapter,
    userAgent: navigator.userAgent,
    timing: ours.timer.method,
    peers: Object.fromEntries(peers.map((p) => [p.name, p.version])),
    skipped,
    rows,
  };
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

(window as unknown as { peerBench: typeof peerBench; peerBenchReady: boolean }).peerBench = peerBench;
(window as unknown as { peerBenchReady: boolean }).peerBenchReady = true;
