// onnxruntime-web as the worker uses it: its wasm binary comes from the package by a URL that the
// bundler resolves (a pre-bundled dependency cannot find it next to itself), and threads only
// where the page is cross-origin isolated (SharedArrayBuffer), else one.
// Imported lazily: the runtime is large and only needed once an encoder is dropped.
import * as ort from 'onnxruntime-web';
import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm?url';

const base = (globalThis as { location?: { href: string } }).location?.href;
ort.env.wasm.wasmPaths = { wasm: base ? new URL(wasmUrl, base).href : wasmUrl };
if (!(globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated) ort.env.wasm.numThreads = 1;

export { ort };
