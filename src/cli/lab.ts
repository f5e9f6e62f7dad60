/**
 * `npm run lab -- <verb> [options]`: the engine in Node on Dawn. Each verb lives in its own file under
 * src/cli/verbs/ and exports `run(args)`; this file only dispatches.
 */
import { parseArgs } from './args.ts';

const VERBS: Record<string, () => Promise<{ run(args: ReturnType<typeof parseArgs>): Promise<void>; help: string }>> = {
  device: () => import('./verbs/device.ts'),
  inspect: () => import('./verbs/inspect.ts'),
  forward: () => import('./verbs/forward.ts'),
  plan: () => import('./verbs/plan.ts'),
  train: () => import('./verbs/train.ts'),
  export: () => import('./verbs/export.ts'),
  decode: () => import('./verbs/decode.ts'),
  sync: () => import('./verbs/sync.ts'),
};

async function main(argv: string[]): Promise<void> {
  const [verb, ...rest] = argv;
  if (!verb || verb === 'help' || verb === '--help') {
    console.log('usage: npm run lab -- <verb> [options]\n\nverbs:');
    for (const [name, load] of Object.entries(VERBS)) console.log(`  ${name.padEnd(10)} ${(await load()).help}`);
    return;
  }
  const load = VERBS[verb];
  if (!load) throw new Error(`unknown verb "${verb}"; try: ${Object.keys(VERBS).join(', ')}`);
  await (await load()).run(parseArgs(rest));
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`lab: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
