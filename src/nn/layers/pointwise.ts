import { scope } from '../../tensor/scope.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { add, matmul, reshape } from '../ops.ts';

/**
 * A 1x1 convolution / linear layer that also changes layout: the transposed reads of the GEMM do the
 * NCHW <-> tokens permutation, so no separate transpose kernel (and no extra activation) is needed.
 * weight [out, in], bias [out] or null.
 */

/** x [N, in, L] (channels first) -> tokens [N, L, out]. */
export function channelsFirstToTokens(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  return scope(() => {
    const y = matmul(x, weight, { transA: true, transB: true });
    return bias ? add(y, bias) : y;
  });
}

/** tokens [N, L, in] -> [N, out, L] (channels first). */
export function tokensToChannelsFirst(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  return scope(() => {
    const y = matmul(weight, x, { transB: true, dtype: x.dtype });
    return bias ? add(y, reshape(bias, [bias.shape[0], 1])) : y;
  });
}
