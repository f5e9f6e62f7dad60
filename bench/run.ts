/**
 * `npm run bench -- <name> [options]`: runs bench/<name>.ts, whose run(args) writes its results under
 * bench/results/. Benchmarks run in Node on Dawn (SwiftShader where no GPU is found), like the CLI.
 */
import { readdirSync } from 'node:fs';
import { parseArgs, type Args } from '../src/cli/args.ts';

const here = new URL('.', import.meta.url);
const names = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -3));

const [name, ...rest] = process.argv.slice(2);
if (!name || !names.includes(name)) {
  console.error(`usage: npm run bench -- <name> [options]; benchmarks: ${names.join(', ')}`);
  process.exit(1);
}
const mod = (await import(new URL(`${name}.ts`, here).href)) as { run?: (args: Args) => Promise<void> };
if (typeof mod.run !== 'function') {
  console.error(`bench/${name}.ts exports no run(args)`);
  process.exit(1);
}
await mod.run(parseArgs(rest));
process.exit(0);
