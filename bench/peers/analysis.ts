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
  rows: { shape: string; tiledMs: number; registerMs: number; gain: number }[];
}

function closing(row: PeerRowResult, who: string[], share: number | null, variants?: VariantEvidence): string {
  const jax = who.includes('jax-js webgpu');
  const bwd = row.mode === 'fwdbwd';
  const barrierBound = share !== null && share >= 0.3;
  const shareText = share === null ? '' : ` (≈${(100 * share).toFixed(0)}%)`;
  switch (row.spec.kind) {
    case 'matmul':
    case 'conv3x3': {
      const v = variants?.rows.length ? variants : null;
      const evidence = v
        ? ` Measured in variants.md (${v.host}, same adapter): a register-only GEMM (no workgroup memory, no barriers; each thread's 4x4 block read straight from storage as vec4s) against the op's tiled kernel: ${v.rows.map((r) => `${r.shape} ${r.registerMs.toFixed(0)} vs ${r.tiledMs.toFixed(0)} ms (${r.gain.toFixed(2)}x)`).join(', ')}.`
        : '';
      const gains = v ? v.rows.map((r) => r.gain) : [];
      const worst = Math.min(...behindBy(row, who));
      const verdict = !v
        ? ' What would close it, untested here: a register-only GEMM variant chosen per adapter by the autotune.'
        : Math.max(...gains) > 1.1
          ? ` So part of it closes with that kernel as a variant of the op (matmul and the implicit-GEMM conv alike) chosen per adapter by the autotune as the tiles are: ${Math.min(...gains).toFixed(2)}-${Math.max(...gains).toFixed(2)}x, against a gap of ${(1 / worst).toFixed(2)}x here. The rest is the inner loop itself (next to measure: unrolled depth and more outputs per thread, vec4 loads along K where K allows, the tile shapes of autotune.md).`
          : ' The register-only kernel does not win on this adapter either, so the gap is not the tiling scheme; next to measure: unrolled depth and more outputs per thread, vec4 tile loads where K and N allow, and the tile shapes (autotune.md).';
      return (
        (barrierBound ? `Barriers dominate${shareText}.` : `Barriers are a minor share${shareText}, so the time is the tiled kernel's own work (staging operands through workgroup memory with bounds-checked scalar loads, then the 8x8 register blocks).`) +
        evidence +
        verdict +
        (jax ? ' jax-js compiles its matmuls and convolutions to register-only reduction loops (workgroup memory only for grouped reductions).' : '') +
        (bwd ? ` The backward adds the two transposed GEMMs (strided tile loads) and, per input, a zero fill and an accumulate into .grad: ${row.ours.dispatches} dispatches in all.` : '')
      );
    }
    case 'attention':
      return (
        (barrierBound ? `Barriers dominate${shareText}.` : `Barriers are a minor share${shareText}; the rest is not broken down here (candidates: the per-row softmax stage, where one thread per query row works while the others wait, and the staging of Q, K, V tiles through workgroup memory).`) +
        ` What would close it on CPU adapters: a variant with one query row per thread (online softmax in registers, K and V read from storage, no workgroup memory), chosen by the autotune, keeping the flash tiles for GPUs. The peers materialize the ${row.spec.nq}x${row.spec.nk} score matrix per head (quadratic memory), which ours never does.` +
        (bwd ? ` The backward recomputes the scores in two kernels (dq, dkdv) and adds zero fills and accumulates into .grad: ${row.ours.dispatches} dispatches in all.` : '')
      );
    case 'group_norm':
      return `Ours is three passes (row moments with a workgroup tree reduction, a group merge, then the normalization), ${row.ours.dispatches} dispatches; the peers fuse or use fewer. What would close it: one kernel per group where a group fits a workgroup, with fewer barriers in the reduction (subgroup adds where the adapter has subgroups).${bwd ? ' ' : ''}`.trim();
  }
}
