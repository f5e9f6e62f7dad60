/** What the peers page returns to its driver (plain JSON). */
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
  peers: Record<string, string>;
  skipped: Record<string, string>;
  rows: PeerRowResult[];
}
