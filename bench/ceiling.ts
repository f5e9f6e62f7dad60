/**
 * `npm run bench -- ceiling [--json] [--size F] [--repeats N]`: the adapter's FMA throughput and copy
 * bandwidth (bench/suites/ceiling.ts). Writes bench/results/<date>-ceiling-<adapter>.json and ceiling.md.
 */
import type { Args } from '../src/cli/args.ts';
import { nodeBench, measureFlags } from './lib/node-device.ts';
import { fmt, header, latestPerAdapter, table, writeJson, writeMarkdown, type ResultsHeader } from './lib/results.ts';
import { measureCeiling, type CeilingResult } from './suites/ceiling.ts';

export interface CeilingFile extends ResultsHeader {
  ceiling: CeilingResult;
}

export async function run(args: Args): Promise<void> {
  const { rt, timer, adapter } = await nodeBench();
  const ceiling = await measureCeiling(rt, timer, { ...measureFlags(args), size: args.num('size', 1) });
  const file: CeilingFile = { ...header('ceiling', adapter, 'node (Dawn)', timer.method), ceiling };
  const path = writeJson('ceiling', adapter, file);
  writeMarkdown('ceiling', renderCeiling(latestPerAdapter<CeilingFile>('ceiling')));
  if (args.bool('json')) console.log(JSON.stringify(file, null, 1));
  else console.log(`${renderCeiling([file])}\nwrote ${path.pathname}`);
}

export function renderCeiling(files: CeilingFile[]): string {
  const out = ['# Adapter ceiling', '', 'FMA throughput, copy bandwidth and the cost of a workgroup barrier, measured in WGSL (bench/suites/ceiling.ts); median of repeats after a warm-up.', ''];
  for (const f of files) {
    out.push(`## ${f.adapter} (${f.host}, ${f.date.slice(0, 10)}, ${f.method}, load ${f.load})`, '');
    out.push(table(['what', 'ms', 'rate'], f.ceiling.details.map((d) => [d.what, fmt.ms(d.ms), `${fmt.rate(d.rate)} ${d.unit}`])));
    out.push('', `Ceiling used by the other suites: **${fmt.rate(f.ceiling.gflops)} GFLOP/s**, **${fmt.rate(f.ceiling.gbps)} GB/s**; a workgroup barrier costs **${fmt.rate(f.ceiling.barrierUs)} µs**.`, '');
  }
  return out.join('\n');
}
