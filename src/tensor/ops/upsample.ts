import upsampleWgsl from '../../../shaders/upsample.wgsl?raw';
import { offsetOf, rowChunks, window } from '../broadcast.ts';
import type { DType } from '../dtype.ts';
import { record } from '../tape.ts';
import { Tensor } from '../tensor.ts';
import { params, specialize } from '../wgsl.ts';
import { asDtype } from './cast.ts';

const WG = 64;

/** Runs one direction on whole planes: `src` has planes of srcPlane elements, `dst` of dstPlane. */
function run(entryPoint: 'forward' | 'backward', src: Tensor, dst: Tensor, h: number, w: number): void {
  const rt = src.rt;
  const planes = src.numel / (entryPoint === 'forward' ? h * w : 4 * h * w);
  const [srcPlane, dstPlane] = entryPoint === 'forward' ? [h * w, 4 * h * w] : [4 * h * w, h * w];
  const spec = { source: specialize(upsampleWgsl, { src: src.dtype }), entryPoint, constants: { WG }, label: `upsample ${entryPoint}` };
  for (const { row0, rows } of rowChunks(planes, 4 * h * w, rt.limits.maxStorageBufferBindingSize)) {
    const ws = window(src, row0 * srcPlane, (row0 + rows) * srcPlane - 1);
    const wd = window(dst, row0 * dstPlane, (row0 + rows) * dstPlane - 1);
    const n = rows * dstPlane;
    const u = params([
      ['u32', n],
      ['u32', row0 * dstPlane],
      ['u32', h],
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
  run('forward', x, y, h, w);
  record('upsample', [x], [y], [], ([gy]) => {
    if (!gy) return [null];
    const gx = Tensor.empty(gy.rt, x.shape, 'f32', 'activations', 'upsample grad');
    run('backward', gy, gx, h, w);
    return [gx];
  });
  return asDtype(y, dtype);
}
