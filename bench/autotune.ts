/**
 * `npm run bench -- autotune [--force] [--shapes tiny|default] [--json]`: measures the GEMM tile shapes of
 * matmul and conv2d on this adapter (bench/lib/autotune.ts), caches the winners in
 * bench/results/autotune-cache.json (per adapter name) and writes bench/results/autotune.md.
 * `npm run bench -- ops --tuned` (and peers --tuned) run with the cached tiles.
 */
import { readFileSync } from 'node:fs';
import type { Args } from '../src/cli/args.ts';
import { autotune, DEFAULT_TILES, sameTiles, type TuneEntry, type TunedKernel } from './lib/autotune.ts';
import { fileStore } from './lib/autotune-file.ts';
import { nodeBench } from './lib/node-device.ts';
import { fmt, table, writeMarkdown } from './lib/results.ts';

export async function run(args: Args): Promise<void> {
  const { rt, timer, adapter } = await nodeBench();
  const store = fileStore();
  const quiet = args.bool('json');
  const entry = await autotune(rt, timer, adapter, {
    store,
    force: args.bool('force'),
    shapes: args.str('shapes', 'default') as 'tiny' | 'default',
    log: quiet ? undefined : console.log,
  });
  if (!args.str('shapes') || args.str('shapes') === 'default') writeMarkdown('autotune', renderAutotune(Object.values(allEntries(store.path))));
  if (quiet) console.log(JSON.stringify(entry, null, 1));
  else console.log(`${entry.source === 'measured' ? 'measured' : `from ${entry.source}`}: ${Object.entries(entry.kernels).map(([k, t]) => `${k} ${JSON.stringify(t.best)} (${t.gain.toFixed(2)}x the default)`).join(', ')}\ncache: ${store.path}`);
}

function allEntries(path: string): Record<string, TuneEntry> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, TuneEntry>;
  } catch {
    return {};
  }
}

export function renderAutotune(entries: TuneEntry[]): string {
  const out = [
    '# Autotune of the GEMM tiles',
    '',
    '`npm run bench -- autotune`: each tile shape (WG_X x WG_Y threads, each an 8x8 block; TK deep per step) that fits the adapter has its',
    'output checked against the default tiles\', then all are timed round-robin on the shapes below (forward runs, summed over the shapes);',
    'the fastest round decides, since load on a shared machine only adds time. The winner is cached per adapter in autotune-cache.json and',
    'applied through `matmulTiles` / `conv2dTiles` (`npm run bench -- ops --tuned`, `peers --tuned`).',
    '',
  ];
  for (const e of entries) {
    out.push(`## ${e.adapter} (${e.date.slice(0, 10)}, ${e.method})`, '');
    for (const [k, t] of Object.entries(e.kernels) as [TunedKernel, NonNullable<TuneEntry['kernels'][TunedKernel]>][]) {
      out.push(`${k} on ${t.shapes.join(', ')}: best ${tileName(t.best)}, ${t.gain.toFixed(2)}x the default ${tileName(DEFAULT_TILES[k])}.`, '');
      out.push(
        table(
          ['tiles (WG_X x WG_Y, TK)', 'tile', 'fastest round ms', 'median ms', ''],
          t.candidates.map((c) => [tileName(c.tiles), `${8 * c.tiles.WG_Y}x${8 * c.tiles.WG_X}`, c.ms === null ? `rejected: ${c.rejected}` : fmt.ms(c.ms), fmt.ms(c.medianMs), sameTiles(c.tiles, t.best) ? 'best' : sameTiles(c.tiles, DEFAULT_TILES[k]) ? 'default' : '']),
        ),
        '',
      );
    }
  }
  return out.join('\n');
}

const tileName = (t: { WG_X: number; WG_Y: number; TK: number }) => `${t.WG_X}x${t.WG_Y}, TK ${t.TK}`;
