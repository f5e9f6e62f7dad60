import groupNormWgsl from '../../../shaders/group-norm.wgsl?raw';
import momentsWgsl from '../../../shaders/moments.wgsl?raw';
import { offsetOf, rowChunks, window, type Window } from '../broadcast.ts';
import type { DType } from '../dtype.ts';
import { record } from '../tape.ts';
import { Tensor } from '../tensor.ts';
import { params, specialize } from '../wgsl.ts';
import { asDtype } from './cast.ts';

const WG = 64;

export interface GroupNormOptions {
  groups: number;
  eps?: number;
  /** Frames per sample in a folded batch N = B * framesPerSample (frames of a sample adjacent). */
  framesPerSample?: number;
}

/** Workgroup size for one workgroup per row: few barriers for short rows (SwiftShader), wide for long. */
export const rowWorkgroupSize = (len: number): number => (len <= 64 ? 32 : len <= 2048 ? 64 : len <= 32768 ? 128 : 256);

interface Geometry {
  n: number;
  c: number;
  hw: number;
  groups: number;
  frames: number;
  eps: number;
}

/**
 * GroupNorm with affine weight and bias [C] on x [N, C, ...spatial]. Statistics (mean, biased variance)
 * per (sample, group), pooled over C / groups channels x framesPerSample frames x spatial, where
 * N = B * framesPerSample holds the frames of a sample next to each other: LatentSync's resnet GroupNorm
 * on [B, C, F, H, W] run as [(B F), C, H, W]. framesPerSample = 1 is torch's GroupNorm.
 * Forward: Welford per row (one (n, c) plane) in workgroups, Chan merges per group, then an elementwise pass.
 */
export function groupNorm(x: Tensor, weight: Tensor, bias: Tensor, opts: GroupNormOptions, dtype: DType = x.dtype): Tensor {
  const { groups, eps = 1e-5, framesPerSample: frames = 1 } = opts;
  const [n, c] = x.shape;
  if (x.shape.length < 2 || !(groups >= 1) || c % groups !== 0 || n % frames !== 0) {
    throw new RangeError(`groupNorm: [${x.shape}] with ${groups} groups and ${frames} frames per sample`);
  }
  for (const p of [weight, bias]) if (p.numel !== c) throw new RangeError(`groupNorm: parameter [${p.shape}] for ${c} channels`);
  const geo: Geometry = { n, c, hw: x.numel / (n * c), groups, frames, eps };
  const rt = x.rt;
  const rows = n * c;
  const nGroups = (n / frames) * groups;
  const limit = rt.limits.maxStorageBufferBindingSize;
  const source = specialize(momentsWgsl + groupNormWgsl, { x: x.dtype, weight: weight.dtype, bias: bias.dtype, gy: 'f32' });

  const rowMoments = Tensor.empty(rt, [rows, 2], 'f32', 'workspace', 'group norm row moments');
  for (const chunk of rowChunks(rows, geo.hw, limit)) {
    const wx = rowWindow(x, geo.hw, chunk);
    const u = uniforms(geo, chunk, wx, null, null);
    rt.dispatch(spec(source, 'row_moments', rowWorkgroupSize(geo.hw)), [wx.binding, window(rowMoments).binding], u, chunk.rows);
  }
  const stats = Tensor.empty(rt, [nGroups, 2], 'f32', 'activations', 'group norm stats');
  const all = { row0: 0, rows };
  rt.dispatch(spec(source, 'group_stats'), [window(rowMoments).binding, window(stats).binding], uniforms(geo, all, null, null, null), Math.ceil(nGroups / WG));
  rowMoments.dispose();

  const y = Tensor.empty(rt, x.shape, 'f32', 'activations', 'group norm');
  for (const chunk of rowChunks(rows, geo.hw, limit)) {
    const [wx, wy] = [rowWindow(x, geo.hw, chunk), rowWindow(y, geo.hw, chunk)];
    const bindings = [wx.binding, window(weight).binding, window(bias).binding, window(stats).binding, wy.binding];
    rt.dispatch(spec(source, 'apply'), bindings, uniforms(geo, chunk, wx, wy, null), Math.ceil((chunk.rows * geo.hw) / WG));
  }
  record('group_norm', [x, weight, bias], [y], [x, weight, stats], ([gy], [sx, sw, sstats]) =>
    gy ? groupNormBackward(geo, sx, sw, sstats, gy, [x.requiresGrad, weight.requiresGrad, bias.requiresGrad]) : [null, null, null],
  );
  stats.dispose();
  return asDtype(y, dtype);
}

function groupNormBackward(geo: Geometry, x: Tensor, weight: Tensor, stats: Tensor, gy: Tensor, wanted: boolean[]): (Tensor | null)[] {
  const rt = x.rt;
  const rows = geo.n * geo.c;
  const nGroups = (geo.n / geo.frames) * geo.groups;
  const limit = rt.limits.maxStorageBufferBindingSize;
  const source = specialize(momentsWgsl + groupNormWgsl, { x: x.dtype, weight: weight.dtype, bias: 'f32', gy: gy.dtype });

  const rowSums = Tensor.empty(rt, [rows, 2], 'f32', 'workspace', 'group norm row sums');
  for (const chunk of rowChunks(rows, geo.hw, limit)) {
    const [wx, wg] = [rowWindow(x, geo.hw, chunk), rowWindow(gy, geo.hw, chunk)];
    const bindings = [wx.binding, window(rowSums).binding, wg.binding, window(stats).binding];
    rt.dispatch(spec(source, 'backward_rows', rowWorkgroupSize(geo.hw)), bindings, uniforms(geo, chunk, wx, wg, null), chunk.rows);
  }
  const coef = Tensor.empty(rt, [nGroups, 2], 'f32', 'workspace', 'group norm coefficients');
  const gw = Tensor.empty(rt, [geo.c], 'f32', 'activations', 'group norm weight grad');
  const gb = Tensor.empty(rt, [geo.c], 'f32', 'activations', 'group norm bias grad');
  const sums = [rowSums, weight, coef, gw, gb].map((t) => window(t).binding);
  rt.dispatch(spec(source, 'backward_sums'), sums, uniforms(geo, { row0: 0, rows }, null, null, null), Math.ceil((nGroups + geo.c) / WG));
  rowSums.dispose();

  let gx: Tensor | null = null;
  if (wanted[0]) {
    gx = Tensor.empty(rt, x.shape, 'f32', 'activations', 'group norm grad');
    for (const chunk of rowChunks(rows, geo.hw, limit)) {
      const [wx, wg, wo] = [rowWindow(x, geo.hw, chunk), rowWindow(gy, geo.hw, chunk), rowWindow(gx, geo.hw, chunk)];
      const bindings = [wx.binding, window(weight).binding, wg.binding, window(stats).binding, window(coef).binding, wo.binding];
      rt.dispatch(spec(source, 'backward_dx'), bindings, uniforms(geo, chunk, wx, wg, wo), Math.ceil((chunk.rows * geo.hw) / WG));
    }
  }
  coef.dispose();
  return [gx, wanted[1] ? gw : (gw.dispose(), null), wanted[2] ? gb : (gb.dispose(), null)];
}

const spec = (source: string, entryPoint: string, wg = WG) => ({ source, entryPoint, constants: { WG: wg }, label: `group norm ${entryPoint}` });

function rowWindow(t: Tensor, hw: number, chunk: { row0: number; rows: number }): Window {
  return window(t, chunk.row0 * hw, (chunk.row0 + chunk.rows) * hw - 1);
}

function uniforms(geo: Geometry, chunk: { row0: number; rows: number }, wx: Window | null, wy: Window | null, wgx: Window | null): Uint8Array {
  const count = geo.frames * (geo.c / geo.groups) * geo.hw;
  return params([
    ['u32', chunk.rows],
    ['u32', chunk.row0],
    ['u32', geo.hw],
    ['u32', geo.c],
    ['u32', geo.groups],
    ['u32', geo.frames],
    ['u32', (geo.n / geo.frames) * geo.groups],
    ['u32', wx ? offsetOf(wx) : 0],
    ['u32', wy ? offsetOf(wy) : 0],
    ['f32', geo.eps],
    ['f32', 1 / count],
    ['u32', geo.n],
    ['u32', wgx ? offsetOf(wgx) : 0],
  ]);
}
