/**
 * TEMPORARY: clamp and exp, which the VAE's diagonal Gaussian needs and the ops brief did not list. They
 * live here, clearly apart, until src/tensor/ops/ has them; then src/nn/ops.ts re-exports those and this
 * file goes. Elementwise, f32 compute, chunked like ops/cast.ts; backward side by side.
 */
import { asDtype } from '../tensor/ops/cast.ts';
import { chunkBinding, elementChunks } from '../tensor/chunks.ts';
import { record } from '../tensor/tape.ts';
import { Tensor } from '../tensor/tensor.ts';
import { params, specialize } from '../tensor/wgsl.ts';

const WG = 64;
const FORWARD = /* wgsl */ `
struct Params { n: u32, mode: u32, lo: f32, hi: f32 }
@group(0) @binding(0) var<storage, read> x: array<IN_x>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * ${WG}u + lid;
  if (i >= p.n) { return; }
  let v = ld_x(i);
  y[i] = select(exp(v), clamp(v, p.lo, p.hi), p.mode == 0u);
}`;
// clamp: g where lo <= x <= hi (torch's mask), else 0. exp: g * y (x holds the forward's output then).
const BACKWARD = /* wgsl */ `
struct Params { n: u32, mode: u32, lo: f32, hi: f32 }
@group(0) @binding(0) var<storage, read> x: array<IN_x>;
@group(0) @binding(1) var<storage, read> g: array<IN_g>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * ${WG}u + lid;
  if (i >= p.n) { return; }
  let v = ld_x(i);
  let inside = v >= p.lo && v <= p.hi;
  y[i] = select(ld_g(i) * v, select(0.0, ld_g(i), inside), p.mode == 0u);
}`;

function run(source: string, inputs: Tensor[], mode: number, lo: number, hi: number, label: string): Tensor {
  const x = inputs[0];
  const y = Tensor.empty(x.rt, x.shape, 'f32', 'activations', label);
  for (const c of elementChunks(x.numel, x.rt.limits.maxStorageBufferBindingSize)) {
    const bindings = [...inputs.map((t) => chunkBinding(t, c)), chunkBinding(y, c)];
    x.rt.dispatch({ source, label }, bindings, params([['u32', c.count], ['u32', mode], ['f32', lo], ['f32', hi]]), Math.ceil(c.count / WG));
  }
  return y;
}

export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  const y = asDtype(run(specialize(FORWARD, { x: x.dtype }), [x], 0, lo, hi, 'clamp'), x.dtype);
  record('clamp', [x], [y], [x], ([g], [sx]) => [g ? run(specialize(BACKWARD, { x: sx.dtype, g: g.dtype }), [sx, g], 0, lo, hi, 'clamp backward') : null]);
  return y;
}

export function exp(x: Tensor): Tensor {
  const y = asDtype(run(specialize(FORWARD, { x: x.dtype }), [x], 1, 0, 0, 'exp'), x.dtype);
  record('exp', [x], [y], [y], ([g], [sy]) => [g ? run(specialize(BACKWARD, { x: sy.dtype, g: g.dtype }), [sy, g], 1, 0, 0, 'exp backward') : null]);
  return y;
}
