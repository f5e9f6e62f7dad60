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
      return { count: bwd ? Math.round(f * 3.5) : f, how: '32-query x 16-key tiles, about 5 barriers per key tile; the backward kernels (dq, dkdv) about 2.5x more' };
    }
    case 'group_norm':
      return null;
  }
}

export function analyse(r: PeerBenchResult, variants?: VariantEvidence): string[] {
  const notes: string[] = [];
  const c = r.ceiling;
  for (const row of r.rows) {
    const behind = Object.entries(row.peers).filter(([n, cell]) => cell.ok && cell.speedup !== undefined && cell.speedup < (TARGET[n] ?? 1));
    if (!behind.length) continue;
    const ms = row.ours.gpuMs ?? row.ours.wallMs;
    const rate = row.flops / ms / 1e6;
    const parts = [
      `**${row.id} ${row.mode === 'fwd' ? 'fwd' : 'fwd+bwd'}**: ${behind.map(([n, cell]) => `${cell.speedup!.toFixed(2)}x ${n} (target ${(TARGET[n] ?? 1).toFixed(1)}x)`).join(', ')}.`,
      `Ours ${ms.toFixed(0)} ms (GPU time), ${rate.toFixed(2)} GFLOP/s = ${((100 * rate) / c.gflops).toFixed(0)}% of the FMA ceiling, ${row.ours.dispatches} dispatch${row.ours.dispatches === 1 ? '' : 'es'}.`,
    ];
    const b = ourBarriers(row, r.tiles);
    let share: number | null = null;
    if (b && c.barrierUs > 0) {
      const est = (b.count * c.barrierUs) / 1000;
      share = Math.min(1, est / ms);
      parts.push(`Our kernels execute about ${b.count} workgroup barriers (${b.how}); at the ${c.barrierUs.toFixed(1)} µs per barrier measured in this page that is ≈ ${est < 10 ? est.toFixed(1) : est.toFixed(0)} ms, ${(100 * share).toFixed(0)}% of our time.`);
    }
    parts.push(closing(row, behind.map(([n]) => n), share, variants));
    notes.push(parts.join(' '));
  }
  return notes;
}

/** Our speedups against the peers we are behind in this row (below 1: behind). */
const behindBy = (row: PeerRowResult, who: string[]): number[] => who.map((n) => row.peers[n]?.speedup ?? 1);

/** Measured elsewhere on the same kind of adapter: the register-only GEMM against the tiled one (variants.md). */
export interface VariantEvidence {
  host: string;
  rows: { kernel?: 'gemm' | 'attention'; shape: string; tiledMs: number; registerMs: number; gain: number }[];
}

/** The evidence line and verdict for one kernel family, or null when variants.md has no rows for it. */
function variantVerdict(variants: VariantEvidence | undefined, kernel: 'gemm' | 'attention', what: string, gap: number): string | null {
  const rows = variants?.rows.filter((r) => (r.kernel ?? 'gemm') === kernel) ?? [];
  if (!rows.length) return null;
  const gains = rows.map((r) => r.gain);
  const evidence = ` Measured in variants.md (${variants!.host}, same adapter): ${what} against the op's kernel: ${rows.map((r) => `${r.shape} ${r.registerMs.toFixed(0)} vs ${r.tiledMs.toFixed(0)} ms (${r.gain.toFixed(2)}x)`).join(', ')}.`;
  const lo = Math.min(...gains);
  const hi = Math.max(...gains);
  if (hi <= 1.1) return `${evidence} It does not win on this adapter either, so the gap is elsewhere;`;
  const closes = lo >= gap ? 'which would close the gap' : 'part of the gap';
  return `${evidence} That is ${lo.toFixed(2)}-${hi.toFixed(2)}x against a gap of ${gap.toFixed(2)}x here, ${closes}: add it as a variant of the op, chosen per adapter by the autotune as the tiles are.`;
}

function closing(row: PeerRowResult, who: string[], share: number | null, variants?: VariantEvidence): string {
  const jax = who.includes('jax-js webgpu');
  const bwd = row.mode === 'fwdbwd';
  const barrierBound = share !== null && share >= 0.3;
  const shareText = share === null ? '' : ` (≈${(100 * share).toFixed(0)}%)`;
  const gap = 1 / Math.min(...behindBy(row, who));
  switch (row.spec.kind) {
    case 'matmul':
    case 'conv3x3': {
      const v = variantVerdict(variants, 'gemm', 'a register-only GEMM (no workgroup memory, no barriers; each thread\'s 4x4 block read straight from storage as vec4s)', gap);
      return (
        (barrierBound ? `Barriers dominate${shareText}.` : `Barriers are a minor share${shareText}, so the time is the tiled kernel's own work (staging operands through workgroup memory with bounds-checked scalar loads, then the 8x8 register blocks).`) +
        (v ?? ' What would close it, not measured in this run: a register-only GEMM variant chosen per adapter by the autotune.') +
        ' Then the inner loop itself (next to measure: unrolled depth and more outputs per thread, vec4 tile loads where K allows, the tile shapes of autotune.md).' +
        (jax ? ' jax-js compiles its matmuls and convolutions to register-only reduction loops (workgroup memory only for grouped reductions).' : '') +
        (bwd ? ` The backward adds the two transposed GEMMs (strided tile loads) and, per input, a zero fill and an accumulate into .grad: ${row.ours.dispatches} dispatches in all.` : '')
      );
    }
    case 'attention': {
      const v = variantVerdict(variants, 'attention', 'one query row per thread (online softmax in registers, K and V read from storage, no workgroup memory, no barriers; memory still linear)', gap);
      return (
        (barrierBound ? `Barriers dominate${shareText}.` : `Barriers are a minor share${shareText}; the rest is the flash kernel's own work (its per-row softmax stage, where one thread per query row works while the others wait, and the staging of Q, K, V tiles through workgroup memory).`) +
        (v ?? ' What would close it on CPU adapters, not measured in this run: one query row per thread, online softmax in registers, K and V from storage, chosen by the autotune.') +
        ` Keep the flash tiles for GPUs. The peers materialize the ${row.spec.nq}x${row.spec.nk} score matrix per head (quadratic memory), which ours never does.` +
        (bwd ? ` The backward recomputes the scores in two kernels (dq, dkdv) and adds zero fills and accumulates into .grad: ${row.ours.dispatches} dispatches in all; the same register-only treatment applies to both.` : '')
      );
    }
    case 'group_norm':
      return `Ours is three passes (row moments with a workgroup tree reduction, a group merge, then the normalization), ${row.ours.dispatches} dispatches; the peers fuse or use fewer. What would close it: one kernel per group where a group fits a workgroup, with fewer barriers in the reduction (subgroup adds where the adapter has subgroups).`;
  }
}
