/**
 * The comparison loop, DOM-free (the page runs it; the harness test runs it in Node with stand-in peers):
 * for each row and mode, ours gives the reference output (and its dispatches per run); each peer is
 * prepared and its output checked against ours; then all run interleaved, timed the same way (warm-up,
 * median of repeats, wall time to each library's own GPU completion; ours also by GPU timestamps). A peer
 * whose output disagrees is still timed, but marked not ok, and its ratio does not count.
 */
import { numel, randn } from '../lib/random.ts';
import { maxRelError, median } from '../lib/stats.ts';
import type { OursPeer } from './ours.ts';
import type { Peer, Prepared } from './peer.ts';
import { peerRows, rowInputs, rowOutput, type PeerRow, type PeerScale } from './rows.ts';
import type { PeerBenchConfig, PeerCell, PeerRowResult } from './types.ts';

export async function compareRows(ours: OursPeer, peers: Peer[], cfg: PeerBenchConfig, log: (s: string) => void = () => {}): Promise<PeerRowResult[]> {
  const rows: PeerRowResult[] = [];
  for (const [ri, row] of peerRows(cfg.scale as PeerScale).entries()) {
    if (cfg.only && !cfg.only.some((o) => row.id.includes(o))) continue;
    const inputs = rowInputs(row.spec).map((s, i) => randn(numel(s), 100 * ri + i, 0.5));
    const gy = randn(numel(rowOutput(row.spec)), 100 * ri + 99, 0.5);
    for (const mode of row.backward ? (['fwd', 'fwdbwd'] as const) : (['fwd'] as const)) rows.push(await compareOne(ours, peers, row, mode, inputs, gy, cfg, log));
  }
  return rows;
}

/**
 * One row in one mode. Ours and the peers whose output agreed run interleaved (ours, peer 1, peer 2, ...,
 * ours, ...) so that a burst of load on a shared machine falls on all of them alike; medians per library.
 */
async function compareOne(
  ours: OursPeer,
  peers: Peer[],
  row: PeerRow,
  mode: 'fwd' | 'fwdbwd',
  inputs: Float32Array[],
  gy: Float32Array,
  cfg: PeerBenchConfig,
  log: (s: string) => void,
): Promise<PeerRowResult> {
  const mine = await ours.prepare(row, mode, inputs, gy);
  const prepared: [Peer, Prepared, PeerCell][] = [];
  const cells: Record<string, PeerCell> = {};
  try {
    const reference = await mine.read();
    const d0 = ours.rt.dispatches;
    await mine.run();
    const dispatches = ours.rt.dispatches - d0;
    for (const p of peers) {
      const cell: PeerCell = { ok: false };
      cells[p.name] = cell;
      const prep = await preparePeer(p, row, mode, inputs, gy, cell);
      if (!prep) {
        if (!cell.skipped?.includes('does not train')) log(`  ${p.name}: skipped (${cell.skipped})`);
        continue;
      }
      try {
        const out = await prep.read();
        cell.maxError = Math.max(...reference.map((r, i) => maxRelError(out[i] ?? new Float32Array(0), r)));
        cell.ok = cell.maxError <= cfg.tolerance;
        prepared.push([p, prep, cell]);
      } catch (e) {
        cell.skipped = `failed: ${(e as Error).message.slice(0, 300)}`;
        await prep.dispose();
      }
    }
    // Warm-up, then interleaved repeats.
    for (let i = 0; i < cfg.warmup; i++) {
      await mine.run();
      for (const [, prep] of prepared) await prep.run();
    }
    const gpu: number[] = [];
    const wall: number[] = [];
    const peerWall = prepared.map(() => [] as number[]);
    let spent = 0;
    for (let i = 0; i < cfg.repeats; i++) {
      const [g, w] = await ours.timer.once(() => mine.run());
      if (g !== null) gpu.push(g);
      wall.push(w);
      spent += w;
      for (const [j, [, prep]] of prepared.entries()) {
        const t0 = performance.now();
        await prep.run();
        const dt = performance.now() - t0;
        peerWall[j].push(dt);
        spent += dt;
      }
      if (i + 1 >= cfg.minRepeats && spent >= cfg.budgetMs * (1 + prepared.length)) break;
    }
    const oursMs = median(wall);
    const result: PeerRowResult = {
      id: row.id,
      spec: row.spec,
      mode,
      flops: row.flops * (mode === 'fwd' ? 1 : 3),
      ours: { wallMs: oursMs, gpuMs: gpu.length === wall.length ? median(gpu) : null, samples: wall, dispatches },
      peers: cells,
    };
    log(`${row.id} ${mode}: ours ${oursMs.toFixed(1)} ms wall${result.ours.gpuMs !== null ? `, ${result.ours.gpuMs.toFixed(1)} ms gpu` : ''}, ${dispatches} dispatches`);
    for (const [j, [p, , cell]] of prepared.entries()) {
      cell.samples = peerWall[j];
      cell.wallMs = median(peerWall[j]);
      cell.speedup = cell.wallMs / oursMs;
      log(`  ${p.name}: ${cell.wallMs.toFixed(1)} ms, ours is ${cell.speedup.toFixed(2)}x as fast, max error ${cell.maxError!.toExponential(1)}${cell.ok ? '' : ' MISMATCH'}`);
    }
    return result;
  } finally {
    await mine.dispose();
    for (const [, prep] of prepared) await prep.dispose();
  }
}

/** The peer's prepared row, or null with the reason in cell.skipped. */
async function preparePeer(p: Peer, row: PeerRow, mode: 'fwd' | 'fwdbwd', inputs: Float32Array[], gy: Float32Array, cell: PeerCell): Promise<Prepared | null> {
  if (mode === 'fwdbwd' && !p.trains) {
    cell.skipped = `${p.name} does not train`;
    return null;
  }
  try {
    const prep = await p.prepare(row, mode, inputs, gy);
    if (typeof prep !== 'string') return prep;
    cell.skipped = prep;
  } catch (e) {
    cell.skipped = `failed to prepare: ${(e as Error).message.slice(0, 300)}`;
  }
  return null;
}
