import activationWgsl from '../../../shaders/activation.wgsl?raw';
import { offsetOf, rowChunks, window } from '../broadcast.ts';
import { Tensor } from '../tensor.ts';
import { params, specialize } from '../wgsl.ts';

/**
 * Runs shaders/activation.wgsl for silu, gelu, geglu and scale: f32 results, flat ranges split so that no
 * binding passes maxStorageBufferBindingSize. Not recorded: the ops' files record and pick the output dtype.
 */
export const ACT = { silu: 0, geluErf: 1, geluTanh: 2, scale: 3 } as const;
export type Act = keyof typeof ACT;

const WG = 64;

function run(
  entryPoint: string,
  act: Act,
  alpha: number,
  operands: { x: Tensor; gy?: Tensor; out: Tensor },
  rows: number,
  inRow: number,
  outRow: number,
  half = 1,
): void {
  const { x, gy, out } = operands;
  const rt = x.rt;
  const source = specialize(activationWgsl, { x: x.dtype, gy: gy?.dtype ?? 'f32' });
  const spec = { source, entryPoint, constants: { WG, ACT: ACT[act] }, label: `${act} ${entryPoint}` };
  // A chunk is a range of rows; the thread count is the rows' elements in the smaller of the two layouts.
  const threadRow = Math.min(inRow, outRow);
  for (const { row0, rows: n } of rowChunks(rows, Math.max(inRow, outRow), rt.limits.maxStorageBufferBindingSize)) {
    const range = (t: Tensor, len: number) => window(t, row0 * len, (row0 + n) * len - 1);
    const wx = range(x, inRow);
    const wy = gy ? range(gy, outRow) : range(out, outRow);
    const wo = range(out, gy ? inRow : outRow);
    const bindings = gy ? [wx.binding, wy.binding, wo.binding] : [wx.binding, wy.binding];
    const u = params([
      ['u32', n * threadRow],
      ['u32', row0 * threadRow],
      ['u32', offsetOf(wx)],
      ['u32', offsetOf(wy)],
      ['u32', offsetOf(wo)],
      ['u32', half],
      ['f32', alpha],
    ]);
    rt.dispatch(spec, bindings, u, Math.ceil((n * threadRow) / WG));
  }
}

/** y = act(x), elementwise. */
export function activationForward(x: Tensor, act: Act, alpha = 1): Tensor {
  const y = Tensor.empty(x.rt, x.shape, 'f32', 'activations', act);
  run('forward', act, alpha, { x, out: y }, x.numel, 1, 1);
  return y;
}

/** gx = gy * act'(x), elementwise (f32). */
export function activationBackward(x: Tensor, gy: Tensor, act: Act, alpha = 1): Tensor {
  const gx = Tensor.empty(x.rt, x.shape, 'f32', 'activations', `${act} grad`);
  run('backward', act, alpha, { x, gy, out: gx }, x.numel, 1, 1);
  return gx;
}

/** y[..., j] = x[..., j] * act(x[..., D + j]) for x [..., 2D]. */
export function gegluForward(x: Tensor, act: Act): Tensor {
  const twoD = x.shape[x.shape.length - 1];
  const half = twoD / 2;
  const y = Tensor.empty(x.rt, [...x.shape.slice(0, -1), half], 'f32', 'activations', 'geglu');
  run('geglu_forward', act, 1, { x, out: y }, x.numel / twoD, twoD, half, half);
  return y;
}

export function gegluBackward(x: Tensor, gy: Tensor, act: Act): Tensor {
  const twoD = x.shape[x.shape.length - 1];
  const gx = Tensor.empty(x.rt, x.shape, 'f32', 'activations', 'geglu grad');
  run('geglu_backward', act, 1, { x, gy, out: gx }, x.numel / twoD, twoD, twoD / 2, twoD / 2);
  return gx;
}
