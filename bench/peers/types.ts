/** What the peers page returns to its driver (plain JSON). */
import type { CeilingResult } from '../suites/ceiling.ts';
import type { Scale } from '../suites/op-cases.ts';
import type { OpRow } from '../suites/ops.ts';
import type { RowSpec } from './rows.ts';

export interface PeerBenchConfig {
  scale: string;
  warmup: number;
  repeats: number;
  minRepeats: number;
  budgetMs: number;
  /** Scaled max error (max |peer - ours| / max |ours|) at or under which a peer's output agrees with ours. */
  tolerance: number;
  /** Only these peers (substrings of their names, lower case). */
  peers?: string[];
  /** Only rows whose id contains one of these. */
  only?: string[];
  /** Tune our GEMM tiles in the page first (in memory). */
  autotune?: boolean;
}

export interface PeerCell {
  /** Output agreed with ours (within tolerance). */
  ok: boolean;
  maxError?: number;
  wallMs?: number;
  samples?: number[];
  /** peer time / our time: above 1, ours is faster. */
  speedup?: number;
  skipped?: string;
}

export interface PeerRowResult {
  id: string;
  spec: RowSpec;
  mode: 'fwd' | 'fwdbwd';
  flops: number;
  ours: { wallMs: number; gpuMs: number | null; samples: number[]; dispatches: number };
  peers: Record<string, PeerCell>;
}

export interface PeerBenchResult {
  adapter: string;
  userAgent: string;
  timing: string;
  /** The adapter's ceiling, measured in the page (bench/suites/ceiling.ts). */
  ceiling: CeilingResult;
  /** Our GEMM tiles in this run. */
  tiles: Record<string, { WG_X: number; WG_Y: number; TK: number }>;
  peers: Record<string, string>;
  skipped: Record<string, string>;
  rows: PeerRowResult[];
}

export interface OpsPageConfig {
  scale: Scale;
  warmup: number;
  repeats: number;
  minRepeats: number;
  budgetMs: number;
  only?: string[];
}

export interface OpsPageResult {
  adapter: string;
  userAgent: string;
  timing: string;
  tiles: Record<string, { WG_X: number; WG_Y: number; TK: number }>;
  ceiling: CeilingResult;
  rows: OpRow[];
}
