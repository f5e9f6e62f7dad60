import { add, attention } from '../nn/ops.ts';
import type { VaeMidBlockAttention } from '../nn/vae/mid-block-attention.ts';
import type { Tensor } from '../tensor/tensor.ts';

/**
 * The VAE mid-block attention over the whole latent map with the module's own layers and weights, in the
 * same op order as VaeMidBlockAttention.forward (so the result is the same to the bit), but freeing each
 * intermediate as soon as it is consumed and fetching the residual input again at the end: at most five
 * maps of the latent size are live (normed, q, k, v and one projection) instead of every intermediate.
 * This is the floor of a tiled decode's cap. Grad-free (validation only).
 */
export function leanAttention(a: VaeMidBlockAttention, fetch: () => Tensor): Tensor {
  const x = fetch();
  const [n, c, h, w] = x.shape;
  const g = a.groupNorm.forward(x);
  x.dispose();
  const normed = g.alias([n, c, h * w]);
  g.dispose();
  const q = a.toQ.forwardFromChannelsFirst(normed);
  const k = a.toK.forwardFromChannelsFirst(normed);
  const v = a.toV.forwardFromChannelsFirst(normed);
  normed.dispose();
  const o = attention(q, k, v, 1, { scale: c ** -0.5 });
  for (const t of [q, k, v]) t.dispose();
  const p = a.toOut.forwardToChannelsFirst(o);
  o.dispose();
  const out = p.alias([n, c, h, w]);
  p.dispose();
  const residual = fetch();
  const y = add(out, residual);
  out.dispose();
  residual.dispose();
  return y;
}
