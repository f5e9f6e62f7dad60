const UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** "24GiB", "1.5 GB", "512MiB", "1000" -> bytes. */
export function parseBytes(s: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*([a-z]*)\s*$/i.exec(s);
  const unit = m ? (m[2] || 'b').toLowerCase() : '';
  if (!m || !(unit in UNITS)) throw new Error(`cannot read "${s}" as a size; write it like 24GiB, 16GB or 512MiB`);
  return Math.round(Number(m[1]) * UNITS[unit]);
}

const GiB = 2 ** 30;
const MiB = 2 ** 20;

export const fmtBytes = (n: number): string =>
  n >= GiB ? `${(n / GiB).toFixed(2)} GiB` : n >= MiB ? `${(n / MiB).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
