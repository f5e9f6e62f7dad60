import upsampleWgsl from '../../../shaders/upsample.wgsl?raw';
import { offsetOf, rowChunks, window } from '../broadcast.ts';
import type { DType } from '../dtype.ts';
import { record } from '../tape.ts';
import { Tensor } from '../tensor.ts';
import { params, specialize } from '../wgsl.ts';
import { asDtype } from './cast.ts';

const WG = 64;

/** Runs one direction over chunks of whole input rows (w elements in, 4w out). */
function run(entryPoint: 'forward' | 'backward', src: Tensor, dst: Tensor, w: number): void {
  const rt = src.rt;
  const small = entryPoint === 'forward' ? src : dst;
  const [srcRow, dstRow] = entryPoint === 'forward' ? [w, 4 * w] : [4 * w, w];
  const spec = { source: specialize(upsampleWgsl, { src: src.dtype }), entryPoint, constants: { WG }, label: `upsample ${entryPoint}` };
  for (const { row0, rows } of rowChunks(small.numel / w, 4 * w, rt.limits.maxStorageBufferBindingSize)) {
    const ws = window(src, row0 * srcRow, (row0 + rows) * srcRow - 1);
    const wd = window(dst, row0 * dstRow, (row0 + rows) * dstRow - 1);
    const n = rows * dstRow;
    const u = params([
      ['u32', n],
      ['u32', row0 * dstRow],
      ['u32', w],
      ['u32', offsetOf(ws)],
      ['u32', offsetOf(wd)],
    ]);
    rt.dispatch(spec, [ws.binding, wd.binding], u, Math.ceil(n / WG));
  }
}

/** Nearest 2x upsampling of the last two dims ([N, C, H, W] -> [N, C, 2H, 2W]). Backward sums 2x2 blocks. */
export function upsampleNearest2x(x: Tensor, dtype: DType = x.dtype): Tensor {
  if (x.shape.length < 2) throw new RangeError(`upsampleNearest2x needs [..., H, W], got [${x.shape}]`);
  const [h, w] = x.shape.slice(-2);
  const y = Tensor.empty(x.rt, [...x.shape.slice(0, -2), 2 * h, 2 * w], 'f32', 'activations', 'upsample');
  if (x.numel > 0) run('forward', x, y, w);
  record('upsample', [x], [y], [], ([gy]) => {
    if (!gy) return [null];
    const gx = Tensor.empty(gy.rt, x.shape, 'f32', 'activations', 'upsample grad');
    if (x.numel > 0) run('backward', gy, gx, w);
    return [gx];
  });
  return asDtype(y, dtype);
}
