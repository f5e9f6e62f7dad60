/**
 * Why a row is behind, from what the run measured: our rate against the page's FMA ceiling, and an
 * estimate of the time our kernels spend in workgroup barriers (barriers the kernel executes x the
 * barrier cost measured in the same page). Targets of issue 11: >= 1.0x ORT, >= 1.5x TF.js, and not
 * behind jax-js.
 */
import type { PeerBenchResult, PeerRowResult } from './types.ts';

const TARGET: Record<string, number> = { 'ORT web webgpu': 1.0, 'TF.js webgpu': 1.5, 'jax-js webgpu': 1.0 };

/** Workgroup barriers our kernels execute for one run of a row (approximate for attention and norms). */
export function ourBarriers(r: PeerRowResult, tiles: PeerBenchResult['tiles']): { count: number; how: string } | null {
  const s = r.spec;
  const gemm = (M: number, N: number, K: number, t: { WG_X: number; WG_Y: number; TK: number }) => Math.ceil(M / (8 * t.WG_Y)) * Math.ceil(N / (8 * t.WG_X)) * 2 * Math.ceil(K / t.TK);
  const bwd = r.mode === 'fwdbwd';
  switch (s.kind) {
    case 'matmul': {
      const t = tiles.matmul;
      const f = gemm(s.M, s.N, s.K, t);
      const count = f + (bwd ? gemm(s.M, s.K, s.N, t) + gemm(s.K, s.N, s.M, t) : 0);
      return { count, how: `${8 * t.WG_Y}x${8 * t.WG_X} tiles, 2 barriers per ${t.TK}-deep step` };
    }
    case 'conv3x3': {
      const t = tiles.conv2d;
      const P = s.n * s.h * s.w;
      const f = gemm(s.cout, P, 9 * s.cin, t);
      const count = f + (bwd ? gemm(s.cin, P, 9 * s.cout, t) + gemm(s.cout, 9 * s.cin, P, t) : 0);
      return { count, how: `implicit GEMM, ${8 * t.WG_Y}x${8 * t.WG_X} tiles, 2 barriers per ${t.TK}-deep step` };
    }
    case 'attention': {
      // forward: per (batch, head, 32-query tile), per 16-key tile: 2 per head-dim chunk + 3 (shaders/attention.wgsl)
      const chunks = Math.ceil(s.D / 64);
      const f = s.B * s.heads * Math.ceil(s.nq / 32) * Math.ceil(s.nk / 16) * (2 * chunks + 3);
      return { count: bwd ? Math.round(f * 3.5) : f, how: '32-query x 16-key tiles, about 5 barriers per key tile (backward: dq and dkdv kernels, about 2.5x more)' };
    }
    case 'group_norm':
      return null;
  }
}

export function analyse(r: PeerBenchResult): string[] {
  const notes: string[] = [];
  const c = r.ceiling;
  for (const row of r.rows) {
    const behind = Object.entries(row.peers).filter(([n, cell]) => cell.ok && cell.speedup !== undefined && cell.speedup < (TARGET[n] ?? 1));
    if (!behind.length) continue;
    const ms = row.ours.gpuMs ?? row.ours.wallMs;
    const rate = row.flops / ms / 1e6;
    const parts = [
      `**${row.id} ${row.mode === 'fwd' ? 'fwd' : 'fwd+bwd'}**: ${behind.map(([n, cell]) => `${cell.speedup!.toFixed(2)}x ${n} (target ${(TARGET[n] ?? 1).toFixed(1)}x)`).join(', ')}.`,
      `Ours ${ms.toFixed(0)} ms, ${rate.toFixed(2)} GFLOP/s = ${((100 * rate) / c.gflops).toFixed(0)}% of the FMA ceiling, ${row.ours.dispatches} dispatch${row.ours.dispatches === 1 ? '' : 'es'}.`,
    ];
    const b = ourBarriers(row, r.tiles);
    let share: number | null = null;
    if (b && c.barrierUs > 0) {
      const est = (b.count * c.barrierUs) / 1000;
      share = Math.min(1, est / ms);
      parts.push(`Our kernels execute about ${b.count} workgroup barriers (${b.how}); at the ${c.barrierUs.toFixed(1)} µs per barrier measured in this page that is ≈ ${est.toFixed(0)} ms, ${(100 * share).toFixed(0)}% of our time.`);
    }
    parts.push(closing(row, behind.map(([n]) => n), share));
    notes.push(parts.join(' '));
  }
  return notes;
}

function closing(row: PeerRowResult, who: string[], share: number | null): string {
  const jax = who.includes('jax-js webgpu');
  const bwd = row.mode === 'fwdbwd';
  const barrierBound = share !== null && share >= 0.3;
  const bwdNote = bwd
    ? ` The backward adds GEMMs on transposed operands (strided tile loads) and, per input, a zero fill and an accumulate into .grad (${row.ours.dispatches} dispatches in all).`
    : '';
  switch (row.spec.kind) {
    case 'matmul':
    case 'conv3x3':
      return (
        (barrierBound
          ? 'Barriers dominate: a GEMM variant without workgroup memory (no barriers) is what closes it on this adapter.'
          : `Barriers are a minor share here, so the time is the tiled kernel itself: operands are staged through workgroup memory with bounds-checked scalar loads, which on a CPU adapter is one more pass over memory, not a faster one.`) +
        ` What would close it: a register-only GEMM variant (each thread's block read straight from storage as vec4s), measured against the tiled kernel on the same adapter in variants.md, added to the op and chosen per adapter by the autotune as the tiles are${jax ? '; jax-js compiles its matmuls and convolutions to such loops (workgroup memory only for grouped reductions)' : ''}.` +
        bwdNote
      );
    case 'attention':
      return (
        (barrierBound ? 'Barriers dominate this kernel on this adapter.' : 'Barriers are not the main cost; the flash kernel\'s serial per-row softmax stage (one thread per query row while the others wait) and its staging through workgroup memory are.') +
        ` What would close it: a variant with one query row per thread (online softmax in registers, K and V read from storage, no workgroup memory) for CPU adapters and short key ranges, chosen by the autotune. The peers materialize the ${row.spec.nq}x${row.spec.nk} score matrix per head (quadratic memory), which ours never does.` +
        bwdNote
      );
    case 'group_norm':
      return `What would close it: the three passes (row moments with a workgroup tree reduction, group merge, normalize) fused into one kernel per group where a group fits one workgroup, with fewer barriers in the reduction (subgroup adds where the adapter has subgroups).${bwdNote}`;
  }
}
