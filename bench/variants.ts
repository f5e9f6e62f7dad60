/**
 * `npm run bench -- variants [--scale tiny|default] [--json]`: the ops' tiled GEMM and flash attention against
 * register-only kernels on this adapter (bench/suites/*-variants.ts): what a per-adapter variant would gain. Writes
 * bench/results/<date>-variants-<adapter>.json and bench/results/variants.md.
 */
import type { Args } from '../src/cli/args.ts';
import { measureFlags, nodeBench } from './lib/node-device.ts';
import { fmt, header, latestPerAdapter, table, writeJson, writeMarkdown, type ResultsHeader } from './lib/results.ts';
import { attentionVariants, ATTENTION_VARIANT_SHAPES } from './suites/attention-variants.ts';
import { gemmVariants, VARIANT_SHAPES, type VariantRow } from './suites/gemm-variants.ts';

export interface VariantsFile extends ResultsHeader {
  rows: VariantRow[];
}

export async function run(args: Args): Promise<void> {
  const { rt, timer, adapter } = await nodeBench();
  const scale = args.str('scale', 'default') as 'tiny' | 'default';
  const rows = [
    ...(await gemmVariants(rt, timer, VARIANT_SHAPES[scale], measureFlags(args))),
    ...(await attentionVariants(rt, timer, ATTENTION_VARIANT_SHAPES[scale], measureFlags(args))),
  ];
  const file: VariantsFile = { ...header('variants', adapter, 'node (Dawn)', timer.method), rows };
  const path = writeJson('variants', adapter, file);
  writeMarkdown('variants', renderVariants(latestPerAdapter<VariantsFile>('variants')));
  if (args.bool('json')) console.log(JSON.stringify(file, null, 1));
  else console.log(`${renderVariants([file])}\nwrote ${path.pathname}`);
}

export function renderVariants(files: VariantsFile[]): string {
  const out = [
    '# Kernel variants: the op\'s tiled kernel vs a register-only one',
    '',
    'GEMM: the matmul op stages tiles in workgroup memory (two barriers per depth step); the register-only kernel (bench/suites/gemm-variants.ts)',
    'reads each thread\'s 4x4 block straight from storage. Attention: the op\'s flash kernel (tiles in workgroup memory, several barriers per key',
    'tile) against one query row per thread with the online softmax in registers (bench/suites/attention-variants.ts); both keep memory linear.',
    'Same inputs; output checked against the op\'s; the two run interleaved, median of repeats. Above 1.00x the register-only kernel is faster.',
    '',
  ];
  for (const f of files) {
    out.push(`## ${f.adapter} (${f.host}, ${f.date.slice(0, 10)}, ${f.method}, load ${f.load})`, '');
    out.push(
      table(
        ['op', 'shape', 'op kernel ms', 'register-only ms', 'register-only gain', 'max error'],
        f.rows.map((r) => [r.kernel ?? 'gemm', r.shape, fmt.ms(r.tiledMs), fmt.ms(r.registerMs), fmt.ratio(r.gain), r.maxError.toExponential(1)]),
      ),
      '',
    );
  }
  return out.join('\n');
}
