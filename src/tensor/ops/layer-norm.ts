import layerNormWgsl from '../../../shaders/layer-norm.wgsl?raw';
import momentsWgsl from '../../../shaders/moments.wgsl?raw';
import { offsetOf, rowChunks, window, type Window } from '../broadcast.ts';
import type { DType } from '../dtype.ts';
import { record } from '../tape.ts';
import { Tensor } from '../tensor.ts';
import { params, specialize } from '../wgsl.ts';
import { sumToShape } from './add.ts';
import { asDtype } from './cast.ts';
import { rowWorkgroupSize } from './group-norm.ts';

/** Rows per partial sum of the weight and bias gradients (then summed by sumToShape). */
const ROW_BLOCK = 64;
const COL_WG = 64;

interface Chunk {
  row0: number;
  rows: number;
}

/**
 * LayerNorm over the last dim of x [..., C], with optional affine weight and bias [C]. Statistics per row
 * by Welford in one workgroup per row; (mean, rstd) are saved for backward.
 */
export function layerNorm(x: Tensor, weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5, dtype: DType = x.dtype): Tensor {
  const rt = x.rt;
  const cols = x.shape[x.shape.length - 1];
  if (x.shape.length === 0 || !(cols >= 1)) throw new RangeError(`layerNorm of [${x.shape}]`);
  for (const p of [weight, bias]) if (p && p.numel !== cols) throw new RangeError(`layerNorm: parameter [${p.shape}] for ${cols} columns`);
  const rows = x.numel / cols;
  const source = specialize(momentsWgsl + layerNormWgsl, { x: x.dtype, weight: (weight ?? x).dtype, bias: (bias ?? x).dtype, gy: 'f32' });
  const stats = Tensor.empty(rt, [rows, 2], 'f32', 'activations', 'layer norm stats');
  const y = Tensor.empty(rt, x.shape, 'f32', 'activations', 'layer norm');
  for (const chunk of rowChunks(rows, cols, rt.limits.maxStorageBufferBindingSize)) {
    const [wx, wy] = [rowWindow(x, cols, chunk), rowWindow(y, cols, chunk)];
    // Absent parameters: x's window stands in (the flags keep the kernel from reading it).
    const bindings = [wx.binding, (weight ? window(weight) : wx).binding, (bias ? window(bias) : wx).binding, window(stats).binding, wy.binding];
    const u = uniforms(cols, eps, chunk, wx, wy, null, weight, bias);
    rt.dispatch(spec(source, 'forward', rowWorkgroupSize(cols)), bindings, u, chunk.rows);
  }
  record('layer_norm', [x, weight, bias], [y], weight ? [x, stats, weight] : [x, stats], ([gy], [sx, sstats, sw]) =>
    gy ? layerNormBackward(sx, sw ?? null, sstats, gy, eps, [x.requiresGrad, !!weight?.requiresGrad, !!bias?.requiresGrad]) : [null, null, null],
  );
  stats.dispose();
  return asDtype(y, dtype);
}

function layerNormBackward(x: Tensor, weight: Tensor | null, stats: Tensor, gy: Tensor, eps: number, wanted: boolean[]): (Tensor | null)[] {
  const rt = x.rt;
  const cols = x.shape[x.shape.length - 1];
  const rows = x.numel / cols;
  const limit = rt.limits.maxStorageBufferBindingSize;
  const source = specialize(momentsWgsl + layerNormWgsl, { x: x.dtype, weight: (weight ?? x).dtype, bias: 'f32', gy: gy.dtype });
  let gx: Tensor | null = null;
  if (wanted[0]) {
    gx = Tensor.empty(rt, x.shape, 'f32', 'activations', 'layer norm grad');
    for (const chunk of rowChunks(rows, cols, limit)) {
      const [wx, wg, wo] = [rowWindow(x, cols, chunk), rowWindow(gy, cols, chunk), rowWindow(gx, cols, chunk)];
      const bindings = [wx.binding, (weight ? window(weight) : wx).binding, wg.binding, window(stats).binding, wo.binding];
      rt.dispatch(spec(source, 'backward', rowWorkgroupSize(cols)), bindings, uniforms(cols, eps, chunk, wx, wg, wo, weight, null), chunk.rows);
    }
  }
  if (!wanted[1] && !wanted[2]) return [gx, null, null];
  // Partial sums per block of rows (ROW_BLOCK, or fewer when that many rows do not fit one binding), then
  // summed over blocks; every chunk holds whole blocks.
  const rowBlock = Math.min(ROW_BLOCK, rowChunks(rows, cols, limit)[0].rows);
  const blocks = Math.ceil(rows / rowBlock);
  const pw = Tensor.empty(rt, [blocks, cols], 'f32', 'workspace', 'layer norm weight partials');
  const pb = Tensor.empty(rt, [blocks, cols], 'f32', 'workspace', 'layer norm bias partials');
  const colBlocks = Math.ceil(cols / COL_WG);
  for (const chunk of rowChunks(rows, cols, limit, rowBlock)) {
    const [wx, wg] = [rowWindow(x, cols, chunk), rowWindow(gy, cols, chunk)];
    const bindings = [wx.binding, window(pw).binding, wg.binding, window(stats).binding, window(pb).binding];
    const u = uniforms(cols, eps, chunk, wx, wg, null, weight, null, rowBlock, colBlocks);
    rt.dispatch(spec(source, 'param_partials', COL_WG), bindings, u, colBlocks * Math.ceil(chunk.rows / rowBlock));
  }
  const gw = wanted[1] ? sumToShape(pw, [cols]) : null;
  const gb = wanted[2] ? sumToShape(pb, [cols]) : null;
  pw.dispose();
  pb.dispose();
  return [gx, gw, gb];
}

const spec = (source: string, entryPoint: string, wg: number) => ({ source, entryPoint, constants: { WG: wg }, label: `layer norm ${entryPoint}` });

function rowWindow(t: Tensor, cols: number, chunk: Chunk): Window {
  return window(t, chunk.row0 * cols, (chunk.row0 + chunk.rows) * cols - 1);
}

function uniforms(
  cols: number,
  eps: number,
  chunk: Chunk,
  wx: Window,
  wy: Window,
  wgx: Window | null,
  weight: Tensor | null,
  bias: Tensor | null,
  rowBlock = ROW_BLOCK,
  colBlocks = 0,
): Uint8Array {
  return params([
    ['u32', chunk.rows],
    ['u32', chunk.row0],
    ['u32', cols],
    ['u32', offsetOf(wx)],
    ['u32', offsetOf(wy)],
    ['u32', wgx ? offsetOf(wgx) : 0],
    ['f32', eps],
    ['f32', 1 / cols],
    ['u32', weight ? 1 : 0],
    ['u32', bias ? 1 : 0],
    ['u32', rowBlock],
    ['u32', colBlocks],
  ]);
}
