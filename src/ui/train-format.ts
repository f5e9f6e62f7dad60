/** Number formats for the training panels. */

/** A duration as a person reads it: "12 s", "3 min 20 s", "1 h 02 min". */
export function fmtDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** A loss with four significant digits (diffusion losses sit between about 0.01 and 2). */
export function fmtLoss(loss: number | null): string {
  if (loss === null) return '—';
  if (!Number.isFinite(loss)) return String(loss);
  return loss.toPrecision(4);
}

/** Steps per second; slow adapters run well under one. */
export function fmtRate(itPerSec: number | null): string {
  if (itPerSec === null || !Number.isFinite(itPerSec)) return '—';
  return itPerSec >= 10 ? itPerSec.toFixed(1) : itPerSec >= 1 ? itPerSec.toFixed(2) : itPerSec.toFixed(3);
}

/** A signed share: "+0.4%", "−2.1%". */
export function fmtDelta(part: number, whole: number): string {
  if (!(whole > 0)) return '';
  const p = (100 * part) / whole;
  const sign = p > 0 ? '+' : p < 0 ? '−' : '±';
  return `${sign}${Math.abs(p).toFixed(Math.abs(p) < 10 ? 1 : 0)}%`;
}
