/** The autotune's store in Node: one JSON file, entries keyed by adapter name (LATENT_LAB_AUTOTUNE overrides the path). */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TuneEntry, TuneStore } from './autotune.ts';

export const DEFAULT_TUNE_FILE = fileURLToPath(new URL('../results/autotune-cache.json', import.meta.url));

export function fileStore(path = process.env.LATENT_LAB_AUTOTUNE ?? DEFAULT_TUNE_FILE): TuneStore & { path: string } {
  const read = (): Record<string, TuneEntry> => (existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, TuneEntry>) : {});
  return {
    path,
    load: (adapter) => read()[adapter] ?? null,
    save: (entry) => {
      const all = read();
      all[entry.adapter] = entry;
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, JSON.stringify(all, null, 1) + '\n');
    },
  };
}
