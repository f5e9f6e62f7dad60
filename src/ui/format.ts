/** Number formats for the panels (binary units, as GPU memory is counted). */
const KiB = 1024;
const MiB = KiB * 1024;
const GiB = MiB * 1024;

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return 'no limit';
  if (n >= GiB) return `${(n / GiB).toFixed(2)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  if (n >= KiB) return `${(n / KiB).toFixed(1)} KiB`;
  return `${n} B`;
}

export const fmtCount = (n: number): string => n.toLocaleString('en-US');

/** Share of a whole, with enough digits that a small share does not read as 0%. */
export function fmtShare(part: number, whole: number): string {
  if (!(whole > 0) || !Number.isFinite(whole)) return '';
  const p = (100 * part) / whole;
  if (p === 0) return '0%';
  if (p < 0.01) return '<0.01%';
  return p < 10 ? `${p.toFixed(2)}%` : `${p.toFixed(1)}%`;
}

export const UNITS = { MiB, GiB } as const;
export type Unit = keyof typeof UNITS;
