import type { DType } from '../dtype.ts';
import { record } from '../tape.ts';
import type { Tensor } from '../tensor.ts';
import { biasGrad } from './bias-grad.ts';
import { asDtype } from './cast.ts';
import { gemm, operand, transposed } from './matmul.ts';

/**
 * torch.nn.functional.linear: x [..., in] @ weightᵀ (weight [out, in]) + bias [out] -> [..., out]. The bias
 * is added in the GEMM's epilogue. Output storage defaults to x's.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: { dtype?: DType } = {}): Tensor {
  const inF = x.shape[x.shape.length - 1];
  if (weight.shape.length !== 2 || weight.shape[1] !== inF) throw new Error(`linear: x [${x.shape}] and weight [${weight.shape}] do not match`);
  const outF = weight.shape[0];
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outF)) throw new Error(`linear: bias [${bias.shape}] for ${outF} outputs`);
  const rows = x.numel / inF;
  const rt = x.rt;
  // x as one [rows, in] matrix; weight read transposed.
  const opX = { t: x, sb: 0, si: inF, sj: 1 };
  const y32 = gemm(rt, { a: opX, b: operand(weight, true, false), M: rows, N: outF, K: inF, batches: 1, bias: bias ?? undefined }, [...x.shape.slice(0, -1), outF], 'linear');
  const y = asDtype(y32, opts.dtype ?? x.dtype);

  const needX = x.requiresGrad;
  const needW = weight.requiresGrad;
  const needBias = !!bias?.requiresGrad;
  const saved = [...(needW ? [x] : []), ...(needX ? [weight] : [])];
  record('linear', [x, weight, bias], [y], saved, ([gy], s) => {
    if (!gy) return [null, null, null];
    const sx = needW ? s[0] : null;
    const sw = needX ? s[needW ? 1 : 0] : null;
    const g = { t: gy, sb: 0, si: outF, sj: 1 };
    // dx = gy @ weight; dweight = gyᵀ @ x; dbias = gy summed over rows.
    const gx = sw ? gemm(rt, { a: g, b: operand(sw, false, false), M: rows, N: inF, K: outF, batches: 1 }, x.shape, 'linear dx') : null;
    const gw = sx ? gemm(rt, { a: transposed(g), b: { t: sx, sb: 0, si: inF, sj: 1 }, M: outF, N: inF, K: rows, batches: 1 }, weight.shape, 'linear dweight') : null;
    const gb = needBias ? biasGrad(gy, rows, outF, 1) : null;
    return [gx, gw, gb];
  });
  return y;
}
