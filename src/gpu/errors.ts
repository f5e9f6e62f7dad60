import { fmtBytes } from './memory/bytes.ts';
import type { Category } from './memory/categories.ts';

/** What the ledger held when a request was refused: bytes per category, plus pooled bytes. */
export interface MemoryBreakdown {
  budget: number;
  held: number;
  pooled: number;
  byCategory: Record<Category, number>;
}


/** Thrown before the GPU is asked, when a request would take held bytes past the budget. */
export class BudgetExceededError extends Error {
  override name = 'BudgetExceededError';
  constructor(
    readonly requested: number,
    readonly category: Category,
    readonly label: string,
    readonly breakdown: MemoryBreakdown,
  ) {
    const parts = Object.entries(breakdown.byCategory)
      .filter(([, b]) => b > 0)
      .map(([c, b]) => `${c} ${fmtBytes(b)}`)
      .join(', ');
    super(
      `GPU budget exceeded: ${category} "${label}" asked for ${fmtBytes(requested)} while ` +
        `${fmtBytes(breakdown.held)} of ${fmtBytes(breakdown.budget)} is held (${parts || 'nothing'}). ` +
        `Raise the budget, or lower batch size, resolution or tile size, or turn on gradient checkpointing.`,
    );
  }
}

/** The GPU itself refused a buffer (out of memory, or a size past the adapter's limits). */
export class GpuAllocationError extends Error {
  override name = 'GpuAllocationError';
  constructor(
    readonly kind: 'out-of-memory' | 'validation',
    readonly requested: number,
    readonly category: Category,
    readonly label: string,
    detail: string,
  ) {
    super(
      `The GPU could not allocate ${fmtBytes(requested)} for ${category} "${label}" (${kind}: ${detail}). ` +
        `Lower the memory budget to what this GPU really has free, or shrink the configuration.`,
    );
  }
}

/** The device is gone (driver reset, destroy(), tab in background on some platforms). */
export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
  constructor(readonly reason: string, message: string) {
    super(`The GPU device was lost (${reason}): ${message || 'no message'}. Restart the engine and resume from the last checkpoint.`);
  }
}
