/**
 * Evidence for what would close the attention gap on a CPU adapter: the op's flash kernel (Q/K/V tiles in
 * workgroup memory, online softmax, several barriers per key tile) against a register-only kernel written
 * here: one query row per thread, online softmax in registers, K and V read straight from storage, no
 * workgroup memory and no barriers (memory still linear in the sequence: no score matrix). Output checked
 * against the op's; the two run interleaved, median of repeats. A measurement, not an op. DOM-free.
 */
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { attention } from '../../src/tensor/ops/attention.ts';
import { scope } from '../../src/tensor/scope.ts';
import { noGrad } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { params } from '../../src/tensor/wgsl.ts';
import { randn } from '../lib/random.ts';
import { maxRelError, median } from '../lib/stats.ts';
import type { GpuTimer, MeasureOptions } from '../lib/timer.ts';
import type { VariantRow } from './gemm-variants.ts';

/** D4 (head dim / 4) is pasted in: function-scope arrays need a constant size. */
const rowKernel = (d4: number) => /* wgsl */ `
const D4: u32 = ${d4}u;
struct P { rows: u32, nq: u32, nk: u32, H: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> q: array<vec4f>;
@group(0) @binding(1) var<storage, read> k: array<vec4f>;
@group(0) @binding(2) var<storage, read> v: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> o: array<vec4f>;
@group(0) @binding(4) var<uniform> p: P;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * 64u; // (batch, head, query)
  if (row >= p.rows) { return; }
  let i = row % p.nq;
  let bh = row / p.nq;
  let h = bh % p.H;
  let b = bh / p.H;
  let C4 = p.H * D4;
  let qo = (b * p.nq + i) * C4 + h * D4;
  var qr: array<vec4f, D4>;
  var acc: array<vec4f, D4>;
  for (var d = 0u; d < D4; d++) { qr[d] = q[qo + d] * p.scale; acc[d] = vec4f(0.0); }
  var m = -3.0e38;
  var l = 0.0;
  for (var j = 0u; j < p.nk; j++) {
    let ko = (b * p.nk + j) * C4 + h * D4;
    var s = 0.0;
    for (var d = 0u; d < D4; d++) { s += dot(qr[d], k[ko + d]); }
    let mn = max(m, s);
    let corr = exp(m - mn);
    let pj = exp(s - mn);
    l = l * corr + pj;
    for (var d = 0u; d < D4; d++) { acc[d] = acc[d] * corr + pj * v[ko + d]; }
    m = mn;
  }
  for (var d = 0u; d < D4; d++) { o[qo + d] = acc[d] / l; }
}`;

/** [B, nq, nk, heads, D]; D a multiple of 4. */
export const ATTENTION_VARIANT_SHAPES: Record<'tiny' | 'default', [number, number, number, number, number][]> = {
  tiny: [[1, 12, 5, 2, 8]],
  default: [[1, 256, 256, 2, 32], [1, 512, 512, 2, 32], [1, 1024, 50, 2, 32]],
};

export async function attentionVariants(rt: GpuRuntime, timer: GpuTimer, shapes: [number, number, number, number, number][], opts: MeasureOptions = {}): Promise<VariantRow[]> {
  const rows: VariantRow[] = [];
  for (const [i, [B, nq, nk, H, D]] of shapes.entries()) {
    const C = H * D;
    const q = Tensor.fromArray(rt, randn(B * nq * C, 700 + i, 0.5), [B, nq, C]);
    const k = Tensor.fromArray(rt, randn(B * nk * C, 710 + i, 0.5), [B, nk, C]);
    const v = Tensor.fromArray(rt, randn(B * nk * C, 720 + i, 0.5), [B, nk, C]);
    const o = Tensor.empty(rt, [B, nq, C], 'f32', 'workspace', 'register attention out');
    try {
      const reference = await scope(() => noGrad(() => attention(q, k, v, H))).toArray();
      const u = params([['u32', B * H * nq], ['u32', nq], ['u32', nk], ['u32', H], ['f32', 1 / Math.sqrt(D)]]);
      const source = rowKernel(D / 4);
      const register = () => {
        rt.dispatch({ source, label: 'register attention' }, [q.buffer, k.buffer, v.buffer, o.buffer], u, Math.ceil((B * H * nq) / 64));
        rt.flush();
      };
      const flash = () => {
        scope(() => noGrad(() => attention(q, k, v, H)));
        rt.flush();
      };
      register();
      const maxError = maxRelError(await o.toArray(), reference);
      const t: number[] = [];
      const r: number[] = [];
      const { warmup = 1, repeats = 5 } = opts;
      for (let n = -warmup; n < repeats; n++) {
        const [fg, fw] = await timer.once(flash);
        const [rg, rw] = await timer.once(register);
        if (n < 0) continue;
        t.push(fg ?? fw);
        r.push(rg ?? rw);
      }
      const tiledMs = median(t);
      const registerMs = median(r);
      rows.push({ kernel: 'attention', shape: `q${nq} k${nk} ${H}x${D}`, flops: 4 * B * H * nq * nk * D, tiledMs, registerMs, gain: tiledMs / registerMs, maxError });
    } finally {
      for (const t of [q, k, v, o]) t.dispose();
      await rt.sync();
    }
  }
  return rows;
}
