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
    if (b && c.barrierUs > 0) {
      const est = (b.count * c.barrierUs) / 1000;
      parts.push(`Our kernels execute about ${b.count} workgroup barriers (${b.how}); at ${c.barrierUs.toFixed(1)} µs each that is ≈ ${est.toFixed(0)} ms, ${Math.min(100, (100 * est) / ms).toFixed(0)}% of our time.`);
    }
    parts.push(closing(row, behind.map(([n]) => n)));
    notes.push(parts.join(' '));
  }
  return notes;
}

function closing(row: PeerRowResult, who: string[]): string {
  const jax = who.includes('jax-js webgpu');
  switch (row.spec.kind) {
    case 'matmul':
    case 'conv3x3':
      return `What would close it: a GEMM variant without workgroup memory (each thread's 8x8 block read straight from storage, no barriers), which is what pays on a CPU adapter where a barrier costs far more than a load; the autotune would pick it per adapter as it picks the tiles${jax ? ' (jax-js generates barrier-free loops of this kind)' : ''}. Backward GEMMs read transposed operands with strided loads; a transposed copy first, or tiles loaded along the unit stride, would cut that.`;
    case 'attention':
      return `What would close it: on this adapter the flash tiles pay in barriers what they save in memory; a variant with one query row per thread (online softmax in registers, K/V read from storage, no barriers) for short key ranges and CPU adapters, chosen by the autotune. The peers materialize the ${row.spec.nq}x${row.spec.nk} score matrix per head (quadratic memory), which we do not.`;
    case 'group_norm':
      return `What would close it: the three passes (row moments with a workgroup tree reduction, group merge, normalize) fused into one kernel per group for groups that fit a workgroup, and fewer barriers in the reduction (subgroup adds where the adapter has subgroups).`;
  }
}
