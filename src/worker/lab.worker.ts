/**
 * The engine worker: one Engine on navigator.gpu, exposed to the page with Comlink. The page starts it
 * with `new Worker(new URL('./lab.worker.ts', import.meta.url), { type: 'module' })`.
 */
import * as Comlink from 'comlink';
import { Engine } from './engine.ts';

declare const self: DedicatedWorkerGlobalScope;

const engine = new Engine({ gpu: () => self.navigator.gpu, isSecureContext: self.isSecureContext });

// Errors nobody awaited still reach the page, as readable messages.
self.addEventListener('error', (e) => engine.reportError(e.error ?? e.message));
self.addEventListener('unhandledrejection', (e) => engine.reportError(e.reason));

Comlink.expose(engine);
