import type { EngineFailure } from '../../src/worker/api.ts';

/** The failure an engine call rejects with; throws when it resolves instead. */
export async function rejection(p: Promise<unknown>): Promise<EngineFailure> {
  try {
    await p;
  } catch (e) {
    return e as EngineFailure;
  }
  throw new Error('expected a rejection');
}
