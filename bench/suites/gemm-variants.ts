/**
 * Evidence for what would close the GEMM gap on a CPU adapter: the op's tiled kernel (workgroup-memory
 * tiles, two barriers per depth step) against a register-only kernel written here (no workgroup memory,
 * no barriers: each thread's 4x4 block reads A and B straight from storage as vec4s, depth unrolled by 4).
 * Same shapes, same inputs, output checked against the op's; the two run interleaved, median of repeats. A measurement, not an op: if it wins on an
 * adapter, the op gains it as a variant that the autotune chooses. DOM-free.
 */
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { matmul } from '../../src/tensor/ops/matmul.ts';
import { scope } from '../../src/tensor/scope.ts';
import { noGrad } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { params } from '../../src/tensor/wgsl.ts';
import { randn } from '../lib/random.ts';
import { maxRelError, median } from '../lib/stats.ts';
import type { GpuTimer, MeasureOptions } from '../lib/timer.ts';

/** Row-major A [M, K] @ B [K, N]; M, N, K multiples of 4. Thread (x, y) owns rows 4y.., columns 4x.. */
const REGISTER_GEMM = /* wgsl */ `
struct P { M: u32, N: u32, K: u32 }
@group(0) @binding(0) var<storage, read> a: array<vec4f>;
@group(0) @binding(1) var<storage, read> b: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> c: array<vec4f>;
@group(0) @binding(3) var<uniform> p: P;
override WG_X: u32 = 8;
override WG_Y: u32 = 8;
@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let n4 = gid.x; // column block (vec4 index along N)
  let m = gid.y * 4u;
  let N4 = p.N / 4u;
  let K4 = p.K / 4u;
  if (n4 >= N4 || m >= p.M) { return; }
  var c0 = vec4f(0.0); var c1 = vec4f(0.0); var c2 = vec4f(0.0); var c3 = vec4f(0.0);
  for (var k4 = 0u; k4 < K4; k4++) {
    let a0 = a[m * K4 + k4]; let a1 = a[(m + 1u) * K4 + k4];
    let a2 = a[(m + 2u) * K4 + k4]; let a3 = a[(m + 3u) * K4 + k4];
    let k = k4 * 4u;
    let b0 = b[k * N4 + n4]; let b1 = b[(k + 1u) * N4 + n4];
    let b2 = b[(k + 2u) * N4 + n4]; let b3 = b[(k + 3u) * N4 + n4];
    c0 += a0.x * b0 + a0.y * b1 + a0.z * b2 + a0.w * b3;
    c1 += a1.x * b0 + a1.y * b1 + a1.z * b2 + a1.w * b3;
    c2 += a2.x * b0 + a2.y * b1 + a2.z * b2 + a2.w * b3;
    c3 += a3.x * b0 + a3.y * b1 + a3.z * b2 + a3.w * b3;
  }
  c[m * N4 + n4] = c0; c[(m + 1u) * N4 + n4] = c1;
  c[(m + 2u) * N4 + n4] = c2; c[(m + 3u) * N4 + n4] = c3;
}`;

export interface VariantRow {
  /** Which op: the tiled/flash kernel of the op against a register-only one. */
  kernel: 'gemm' | 'attention';
  shape: string;
  flops: number;
  tiledMs: number;
  registerMs: number;
  /** tiled / register: above 1, the register-only kernel is faster. */
  gain: number;
  maxError: number;
}

export const VARIANT_SHAPES: Record<'tiny' | 'default', [number, number, number][]> = {
  tiny: [[16, 24, 8]],
  default: [[256, 256, 256], [512, 512, 512], [1024, 320, 320]],
};

export async function gemmVariants(rt: GpuRuntime, timer: GpuTimer, shapes: [number, number, number][], opts: MeasureOptions = {}): Promise<VariantRow[]> {
  const rows: VariantRow[] = [];
  for (const [i, [M, K, N]] of shapes.entries()) {
    const a = Tensor.fromArray(rt, randn(M * K, 500 + i, 0.5), [M, K]);
    const b = Tensor.fromArray(rt, randn(K * N, 600 + i, 0.5), [K, N]);
    const c = Tensor.empty(rt, [M, N], 'f32', 'workspace', 'register gemm out');
    try {
      const reference = await scope(() => noGrad(() => matmul(a, b))).toArray();
      const u = params([['u32', M], ['u32', N], ['u32', K]]);
      const grid: [number, number, number] = [Math.ceil(N / 4 / 8), Math.ceil(M / 4 / 8), 1];
      const register = () => {
        rt.dispatch({ source: REGISTER_GEMM, label: 'register gemm', constants: { WG_X: 8, WG_Y: 8 } }, [a.buffer, b.buffer, c.buffer], u, grid);
        rt.flush();
      };
      register();
      const maxError = maxRelError(await c.toArray(), reference);
      // Interleaved: a burst of load falls on both kernels alike.
      const tiledRun = () => {
        scope(() => noGrad(() => matmul(a, b)));
        rt.flush();
      };
      const t: number[] = [];
      const r: number[] = [];
      const { warmup = 1, repeats = 5 } = opts;
      for (let k = -warmup; k < repeats; k++) {
        const [tg, tw] = await timer.once(tiledRun);
        const [rg, rw] = await timer.once(register);
        if (k < 0) continue;
        t.push(tg ?? tw);
        r.push(rg ?? rw);
      }
      const tiledMs = median(t);
      const registerMs = median(r);
      rows.push({ kernel: 'gemm', shape: `[${M}x${K}]@[${K}x${N}]`, flops: 2 * M * N * K, tiledMs, registerMs, gain: tiledMs / registerMs, maxError });
    } finally {
      for (const t of [a, b, c]) t.dispose();
      await rt.sync();
    }
  }
  return rows;
}

