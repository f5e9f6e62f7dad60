import selftestWgsl from '../../shaders/selftest.wgsl?raw';
import type { GpuRuntime } from './runtime.ts';

const WG = 64;

/**
 * Runs y = a*x + b on the GPU and checks it on the host: proves the device, the ledger, the kernel cache,
 * the dispatch fold and the readback path work together. Returns the max abs error (0 when all is well).
 */
export async function runSelfTest(rt: GpuRuntime, n = 4096, a = 2, b = 0.5): Promise<{ n: number; maxError: number; workgroups: number }> {
  const x = new Float32Array(n).map((_, i) => (i % 97) - 48);
  const xb = rt.ledger.alloc(n * 4, 'workspace', 'selftest x');
  const yb = rt.ledger.alloc(n * 4, 'workspace', 'selftest y');
  try {
    rt.upload(xb, x);
    const params = new ArrayBuffer(16);
    new Uint32Array(params, 0, 1)[0] = n;
    new Float32Array(params, 4, 2).set([a, b]);
    const workgroups = Math.ceil(n / WG);
    rt.dispatch({ source: selftestWgsl, constants: { WG }, label: 'selftest' }, [xb, yb], new Uint8Array(params), workgroups);
    const y = new Float32Array(await rt.read(yb, n * 4));
    let maxError = 0;
    for (let i = 0; i < n; i++) maxError = Math.max(maxError, Math.abs(y[i] - (a * x[i] + b)));
    return { n, maxError, workgroups };
  } finally {
    rt.ledger.free(xb);
    rt.ledger.free(yb);
  }
}
