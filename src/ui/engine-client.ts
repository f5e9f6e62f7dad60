import * as Comlink from 'comlink';
import { failure, isEngineFailure, type EngineFailure, type EngineListener, type LabEngine } from '../worker/api.ts';

/** The page's handle on the engine worker. The UI talks to the engine only through this. */
export interface EngineClient {
  engine: Comlink.Remote<LabEngine>;
  listen(listener: EngineListener): Promise<number>;
  terminate(): void;
}

/** Starts the engine worker; `onCrash` hears about a worker that fails to load or dies. */
export function startEngine(onCrash: (f: EngineFailure) => void): EngineClient {
  const worker = new Worker(new URL('../worker/lab.worker.ts', import.meta.url), { type: 'module', name: 'latent-lab engine' });
  worker.addEventListener('error', (e) => {
    e.preventDefault();
    onCrash(
      failure(
        'worker-failed',
        `The engine worker could not run${e.message ? `: ${e.message}` : '.'}`,
        'Reload the page. If it fails again, use a current Chrome or Edge, which run module workers.',
      ),
    );
  });
  const engine = Comlink.wrap<LabEngine>(worker);
  return {
    engine,
    listen: (listener) => engine.subscribe(Comlink.proxy(listener)),
    terminate() {
      engine[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}

/** Whatever a call rejected with, as something the UI can show. */
export function asFailure(e: unknown): EngineFailure {
  if (isEngineFailure(e)) return e;
  const message = e instanceof Error ? e.message : String(e);
  return failure('internal', message, 'Reload the page. If it happens again, report it with the details.', e instanceof Error ? e.stack : undefined);
}
