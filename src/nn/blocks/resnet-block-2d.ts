import { scope } from '../../tensor/scope.ts';
import type { Tensor } from '../../tensor/tensor.ts';
import { Conv2d } from '../layers/conv2d.ts';
import { GroupNorm } from '../layers/group-norm.ts';
import { Linear } from '../layers/linear.ts';
import { Module } from '../module.ts';
import { add, reshape, silu } from '../ops.ts';
import { chain } from './chain.ts';

/**
 * diffusers' ResnetBlock2D / LatentSync's ResnetBlock3D (time_embedding_norm "default", output scale 1):
 * norm1, silu, conv1, + time_emb_proj(silu(temb)), norm2, silu, conv2, + (conv_shortcut)(x).
 * norm1 and norm2 pool their statistics over the `frames` adjacent rows of a sample (framesPerSample).
 */
export class ResnetBlock2D extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly timeEmbProj: Linear | null;
  readonly norm2: GroupNorm;
  readonly conv2: Conv2d;
  readonly convShortcut: Conv2d | null;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    tembChannels: number | null,
    groups: number,
    eps: number,
  ) {
    super();
    this.norm1 = this.child('norm1', new GroupNorm(groups, inChannels, eps));
    this.conv1 = this.child('conv1', new Conv2d(inChannels, outChannels, 3, { padding: 1 }));
    this.timeEmbProj = tembChannels === null ? null : this.child('time_emb_proj', new Linear(tembChannels, outChannels));
    this.norm2 = this.child('norm2', new GroupNorm(groups, outChannels, eps));
    this.conv2 = this.child('conv2', new Conv2d(outChannels, outChannels, 3, { padding: 1 }));
    this.convShortcut = inChannels === outChannels ? null : this.child('conv_shortcut', new Conv2d(inChannels, outChannels, 1));
  }

  /**
   * x [N, C, H, W]; temb [N, Ct] (one row per image) or [N / frames, Ct] (one per sample, shared by its
   * frames), or null where the block has no time embedding (the VAE).
   */
  forward(x: Tensor, temb: Tensor | null, frames = 1): Tensor {
    return scope(() => {
      const proj = this.timeEmbProj;
      if (proj && !temb) throw new Error('ResnetBlock2D: this block needs a time embedding');
      const t = proj && temb ? proj.forward(silu(temb)) : null;
      const h = chain(
        x,
        (a) => this.norm1.forward(a, frames),
        silu,
        (a) => this.conv1.forward(a),
        (a) => (t ? addPerRow(a, t) : a),
        (a) => this.norm2.forward(a, frames),
        silu,
        (a) => this.conv2.forward(a),
      );
      return add(this.convShortcut ? this.convShortcut.forward(x) : x, h);
    });
  }
}

/** h [N, C, H, W] + t [R, C] broadcast over space, where each of the R rows covers N / R adjacent images. */
function addPerRow(h: Tensor, t: Tensor): Tensor {
  const [n, c, height, width] = h.shape;
  const rows = t.shape[0];
  if (n % rows !== 0) throw new Error(`ResnetBlock2D: ${rows} time embeddings for ${n} images`);
  return scope(() => reshape(add(reshape(h, [rows, n / rows, c, height * width]), reshape(t, [rows, 1, c, 1])), h.shape));
}
