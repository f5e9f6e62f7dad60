/** `--key value`, `--flag` and positional arguments; values stay strings, the verb converts them. */
export interface Args {
  flags: Record<string, string | true>;
  positional: string[];
  str(name: string, fallback?: string): string | undefined;
  num(name: string, fallback?: number): number | undefined;
  bool(name: string): boolean;
}

export function parseArgs(argv: string[]): Args {
  const flags: Record<string, string | true> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    if (eq > 0) flags[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) flags[a.slice(2)] = argv[++i];
    else flags[a.slice(2)] = true;
  }
  return {
    flags,
    positional,
    str: (n, f) => (typeof flags[n] === 'string' ? (flags[n] as string) : f),
    num: (n, f) => {
      const v = flags[n];
      if (v === undefined) return f;
      const x = Number(v);
      if (typeof v !== 'string' || !Number.isFinite(x)) throw new Error(`--${n} needs a number, got "${v}"`);
      return x;
    },
    bool: (n) => flags[n] === true || flags[n] === 'true',
  };
}
