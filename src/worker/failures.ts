import { BudgetExceededError, DeviceLostError, GpuAllocationError } from '../gpu/errors.ts';
import { failure, isEngineFailure, type EngineFailure } from './api.ts';

/** Turns anything thrown inside the engine into the plain failure object the UI shows. */
export function toFailure(e: unknown): EngineFailure {
  if (isEngineFailure(e)) return e;
  const err = e instanceof Error ? e : new Error(String(e));
  const detail = err.stack ?? err.message;
  // These errors already say what to do in their message; the action repeats the short form.
  if (err instanceof BudgetExceededError)
    return failure('budget-exceeded', err.message, 'Raise the budget, or make the job smaller.', detail);
  if (err instanceof GpuAllocationError)
    return failure('gpu-allocation', err.message, 'Lower the budget to what the GPU really has free, or shrink the job.', detail);
  if (err instanceof DeviceLostError) return deviceLost(err);
  return failure('internal', err.message || err.name, 'Reload the page. If it happens again, report it with the details below.', detail);
}

export function deviceLost(err: DeviceLostError): EngineFailure {
  return failure(
    'device-lost',
    err.message,
    err.reason === 'destroyed'
      ? 'The engine released the GPU on purpose; start it again to continue.'
      : 'Reload the page to start the engine again. If it keeps happening, lower the budget or close other GPU-heavy tabs.',
  );
}
