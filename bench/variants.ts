/**
 * `npm run bench -- variants [--scale tiny|default] [--json]`: the op's tiled GEMM against a register-only
 * kernel on this adapter (bench/suites/gemm-variants.ts): what a per-adapter variant would gain. Writes
 * bench/results/<date>-variants-<adapter>.json and bench/results/variants.md.
 */
import type { Args } from '../src/cli/args.ts';
import { measureFlags, nodeBench } from './lib/node-device.ts';
import { fmt, header, latestPerAdapter, table, writeJson, writeMarkdown, type ResultsHeader } from './lib/results.ts';
import { gemmVariants, VARIANT_SHAPES, type VariantRow } from './suites/gemm-variants.ts';

export interface VariantsFile extends ResultsHeader {
  rows: VariantRow[];
}

export async function run(args: Args): Promise<void> {
  const { rt, timer, adapter } = await nodeBench();
  const rows = await gemmVariants(rt, timer, VARIANT_SHAPES[(args.str('scale', 'default') as 'tiny' | 'default')], measureFlags(args));
  const file: VariantsFile = { ...header('variants', adapter, 'node (Dawn)', timer.method), rows };
  const path = writeJson('variants', adapter, file);
  writeMarkdown('variants', renderVariants(latestPerAdapter<VariantsFile>('variants')));
  if (args.bool('json')) console.log(JSON.stringify(file, null, 1));
  else console.log(`${renderVariants([file])}\nwrote ${path.pathname}`);
}

export function renderVariants(files: VariantsFile[]): string {
  const out = [
    '# GEMM variants: tiled (the op) vs register-only',
    '',
    'The matmul op\'s kernel stages tiles in workgroup memory (two barriers per depth step); the register-only kernel',
    '(bench/suites/gemm-variants.ts) reads each thread\'s operands straight from storage. Same inputs; output checked against the op\'s.',
    '',
  ];
  for (const f of files) {
    out.push(`## ${f.adapter} (${f.host}, ${f.date.slice(0, 10)}, ${f.method}, load ${f.load})`, '');
    out.push(
      table(
        ['shape', 'tiled ms', 'register-only ms', 'register-only gain', 'max error'],
        f.rows.map((r) => [r.shape, fmt.ms(r.tiledMs), fmt.ms(r.registerMs), fmt.ratio(r.gain), r.maxError.toExponential(1)]),
      ),
      '',
    );
  }
  return out.join('\n');
}
