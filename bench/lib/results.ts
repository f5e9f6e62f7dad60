/**
 * Results files (Node only): bench/results/<date>-<suite>-<adapter>.json for every run, and
 * bench/results/<suite>.md, a table the README quotes, rebuilt from the newest JSON of each adapter.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, cpus } from 'node:os';

export const RESULTS_DIR = new URL('../results/', import.meta.url);

export interface ResultsHeader {
  suite: string;
  adapter: string;
  date: string;
  /** Where it ran: "node (Dawn)" or "chromium <version>". */
  host: string;
  /** What else the machine was doing: 1-minute load average over cores, at the start. */
  load: string;
  method: string;
}

export function header(suite: string, adapter: string, host: string, method: string): ResultsHeader {
  const [l1] = loadavg();
  return { suite, adapter, date: new Date().toISOString(), host, load: `${l1.toFixed(1)} on ${cpus().length} cores`, method };
}

export function resultsPath(suite: string, adapter: string, date = new Date()): URL {
  return new URL(`${date.toISOString().slice(0, 10)}-${suite}-${adapter}.json`, RESULTS_DIR);
}

export function writeJson(suite: string, adapter: string, data: object, dir: URL = RESULTS_DIR, date = new Date()): URL {
  mkdirSync(dir, { recursive: true });
  const path = new URL(resultsPath(suite, adapter, date).pathname.split('/').pop()!, dir);
  writeFileSync(path, JSON.stringify(data, null, 1) + '\n');
  return path;
}

/** The newest results JSON of `suite` per adapter (file names sort by date). */
export function latestPerAdapter<T>(suite: string, dir: URL = RESULTS_DIR): T[] {
  const re = new RegExp(`^\\d{4}-\\d{2}-\\d{2}-${suite}-(.+)\\.json$`);
  const newest = new Map<string, string>();
  for (const f of readdirSync(dir).sort()) {
    const m = re.exec(f);
    if (m) newest.set(m[1], f);
  }
  return [...newest.values()].map((f) => JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as T);
}

export function writeMarkdown(suite: string, text: string, dir: URL = RESULTS_DIR): URL {
  mkdirSync(dir, { recursive: true });
  const path = new URL(`${suite}.md`, dir);
  writeFileSync(path, text);
  return path;
}

/** A markdown table. */
export function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

export const fmt = {
  ms: (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)),
  pct: (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(x < 0.1 ? 1 : 0)}%`),
  rate: (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toPrecision(2)),
  ratio: (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : `${x.toFixed(2)}x`),
};
