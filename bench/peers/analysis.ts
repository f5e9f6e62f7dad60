/** Filled in from measurements (see peers.md). */
import type { PeerBenchResult } from './types.ts';

export function analyse(r: PeerBenchResult): string[] {
  void r;
  return [];
}
