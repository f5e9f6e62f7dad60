/**
 * Our UNet3DConditionModel (motion modules off) written in TensorFlow.js ops, the way a TF.js user would
 * write it without tf.layers: NHWC (TF.js's native conv layout), tf.fused.conv2d, GroupNorm from
 * tf.moments (the resnets' statistics pooled over the frames of a sample, as ours and LatentSync do),
 * attention as matMul -> softmax -> matMul, GEGLU with the erf gelu, frames folded into the batch.
 * Weights come from OUR model's state dict (diffusers names), so both compute the same function; the
 * issue-11 training-step row (bench/suites/train-step.ts) checks that before timing anything.
 *
 * The training step is what ours does (src/train/trainer.ts + optimizer.ts): MSE loss, gradients of every
 * parameter (tf.variableGrads), global-norm clipping (max_norm / (norm + 1e-6)), AdamW with torch's
 * semantics (decoupled decay, bias correction). Our f16 finite check is left out: these runs are f32.
 */
import * as tf from '@tensorflow/tfjs';
import { hasCrossAttention, headsOf, parseUNetConfig, type UNetConfig } from '../../src/nn/unet/config.ts';
import { timestepFrequencies } from '../../src/tensor/ops/timestep-embedding.ts';
import { hwioToOihw, nchwToNhwc, oihwToHwio } from './peer.ts';

/** A parameter in our layout (conv weights OIHW, linear weights [out, in]). */
export interface HostTensor {
  name: string;
  shape: readonly number[];
  data: Float32Array;
}

/** One micro-batch in our (folded, NCHW) layout: UnetBatch's fields. */
export interface HostBatch {
  input: Float32Array;
  target: Float32Array;
  timesteps: Float32Array;
  audio: Float32Array;
  shape: { n: number; frames: number; h: number; w: number; tokens: number; dim: number };
}

export interface AdamWSettings {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  clipNorm: number | null;
}

const silu = (x: tf.Tensor) => tf.mul(x, tf.sigmoid(x));

/**
 * Nearest 2x upsampling as two broadcasts (rows, then columns). Not tf.image.resizeNearestNeighbor: in TF.js
 * 4.22 its gradient on the CPU backend is wrong for every image after the first of a batch (this row's
 * gradient check found it), and the check has to run on the CPU backend in the unit tests too.
 */
function upsampleNearest2x(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const twice = tf.ones([1, 1, 2, 1]);
  const rows = x.reshape([n, h, 1, w * c]).mul(twice).reshape([n * 2 * h, w, 1, c]);
  return rows.mul(twice).reshape([n, 2 * h, 2 * w, c]);
}

/** A variable holding `t` (t itself is released: the variable keeps the data). */
function variableOf(t: tf.Tensor, trainable: boolean, name?: string): tf.Variable {
  const v = tf.variable(t, trainable, name);
  t.dispose();
  return v;
}

/** TF.js variable names are global: each model gets its own prefix. */
let instances = 0;

export class TfjsUnet {
  readonly config: UNetConfig;
  /** Parameters by diffusers name; 4-D conv weights are stored HWIO. */
  readonly vars = new Map<string, tf.Variable>();
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private readonly oihw = new Map<string, readonly number[]>();
  private steps = 0;
  private readonly prefix = `latent-lab-unet-${instances++}/`;

  constructor(config: Record<string, unknown>, weights: readonly HostTensor[]) {
    this.config = parseUNetConfig(config);
    if (config.audio_feature_shape) throw new Error('TF.js UNet: the audio projection (audio_feature_shape) is not written here; use tokens at cross_attention_dim');
    for (const w of weights) {
      let data = w.data;
      let shape = [...w.shape];
      if (shape.length === 4) {
        const [o, i, kh, kw] = shape;
        this.oihw.set(w.name, w.shape);
        data = oihwToHwio(data, o, i, kh, kw);
        shape = [kh, kw, i, o];
      }
      this.vars.set(w.name, variableOf(tf.tensor(data, shape), true, this.prefix + w.name));
    }
  }

  /** A gradient (or weight) of `name` in TF.js layout, brought back to ours. */
  toOurLayout(name: string, data: Float32Array): Float32Array {
    const s = this.oihw.get(name);
    return s ? hwioToOihw(data, s[0], s[1], s[2], s[3]) : data;
  }

  private p(name: string): tf.Variable {
    const v = this.vars.get(name);
    if (!v) throw new Error(`TF.js UNet: the state dict has no "${name}"`);
    return v;
  }

  private has(name: string): boolean {
    return this.vars.has(name);
  }

  private conv(x: tf.Tensor4D, prefix: string, stride = 1): tf.Tensor4D {
    const filter = this.p(`${prefix}.weight`) as unknown as tf.Tensor4D;
    const pad = filter.shape[0] === 1 ? 0 : (filter.shape[0] - 1) / 2;
    return tf.fused.conv2d({ x, filter, bias: this.p(`${prefix}.bias`), strides: stride, pad });
  }

  private linear(x: tf.Tensor, prefix: string): tf.Tensor {
    const w = this.p(`${prefix}.weight`);
    const [out, inF] = w.shape;
    const y = tf.matMul(x.reshape([-1, inF]), w, false, true);
    const b = this.has(`${prefix}.bias`) ? y.add(this.p(`${prefix}.bias`)) : y;
    return b.reshape([...x.shape.slice(0, -1), out]);
  }

  /** torch GroupNorm; with frames > 1 the adjacent `frames` images of a sample share their statistics. */
  private groupNorm(x: tf.Tensor4D, prefix: string, eps: number, frames: number): tf.Tensor4D {
    const [n, h, w, c] = x.shape;
    const g = this.config.norm_num_groups;
    const xr = x.reshape([n / frames, frames * h * w, g, c / g]);
    const { mean, variance } = tf.moments(xr, [1, 3], true);
    const y = xr.sub(mean).mul(tf.rsqrt(variance.add(eps))).reshape(x.shape);
    return y.mul(this.p(`${prefix}.weight`)).add(this.p(`${prefix}.bias`));
  }

  private layerNorm(x: tf.Tensor, prefix: string): tf.Tensor {
    const { mean, variance } = tf.moments(x, -1, true);
    return x.sub(mean).mul(tf.rsqrt(variance.add(1e-5))).mul(this.p(`${prefix}.weight`)).add(this.p(`${prefix}.bias`));
  }

  private attention(x: tf.Tensor, context: tf.Tensor | null, prefix: string, heads: number): tf.Tensor {
    const [n, len, c] = x.shape;
    const d = c / heads;
    const kv = context ?? x;
    const kvLen = kv.shape[1]!;
    const split = (t: tf.Tensor, l: number) => t.reshape([n, l, heads, d]).transpose([0, 2, 1, 3]);
    const q = split(this.linear(x, `${prefix}.to_q`), len);
    const k = split(this.linear(kv, `${prefix}.to_k`), kvLen);
    const v = split(this.linear(kv, `${prefix}.to_v`), kvLen);
    const probs = tf.softmax(tf.matMul(q, k, false, true).mul(d ** -0.5));
    const o = tf.matMul(probs, v).transpose([0, 2, 1, 3]).reshape([n, len, c]);
    return this.linear(o, `${prefix}.to_out.0`);
  }

  private feedForward(x: tf.Tensor, prefix: string): tf.Tensor {
    const [hidden, gate] = tf.split(this.linear(x, `${prefix}.net.0.proj`), 2, -1);
    const gelu = gate.mul(0.5).mul(tf.erf(gate.mul(Math.SQRT1_2)).add(1));
    return this.linear(hidden.mul(gelu), `${prefix}.net.2`);
  }

  private transformer(x: tf.Tensor4D, context: tf.Tensor | null, prefix: string, heads: number): tf.Tensor4D {
    const [n, h, w, c] = x.shape;
    let a: tf.Tensor = this.conv(this.groupNorm(x, `${prefix}.norm`, 1e-6, 1), `${prefix}.proj_in`).reshape([n, h * w, c]);
    for (let i = 0; this.has(`${prefix}.transformer_blocks.${i}.norm1.weight`); i++) {
      const b = `${prefix}.transformer_blocks.${i}`;
      a = a.add(this.attention(this.layerNorm(a, `${b}.norm1`), null, `${b}.attn1`, heads));
      if (context && this.has(`${b}.norm2.weight`)) a = a.add(this.attention(this.layerNorm(a, `${b}.norm2`), context, `${b}.attn2`, heads));
      a = a.add(this.feedForward(this.layerNorm(a, `${b}.norm3`), `${b}.ff`));
    }
    return this.conv(a.reshape([n, h, w, c]) as tf.Tensor4D, `${prefix}.proj_out`).add(x);
  }

  private resnet(x: tf.Tensor4D, temb: tf.Tensor2D, prefix: string, frames: number): tf.Tensor4D {
    const eps = this.config.norm_eps;
    let h = this.conv(silu(this.groupNorm(x, `${prefix}.norm1`, eps, frames)) as tf.Tensor4D, `${prefix}.conv1`);
    const [n, height, width, c] = h.shape;
    const t = this.linear(silu(temb), `${prefix}.time_emb_proj`);
    const rows = t.shape[0];
    h = h.reshape([rows, n / rows, height, width, c]).add(t.reshape([rows, 1, 1, 1, c])).reshape([n, height, width, c]);
    h = this.conv(silu(this.groupNorm(h, `${prefix}.norm2`, eps, frames)) as tf.Tensor4D, `${prefix}.conv2`);
    const shortcut = this.has(`${prefix}.conv_shortcut.weight`) ? this.conv(x, `${prefix}.conv_shortcut`) : x;
    return shortcut.add(h);
  }

  /** sample [N, H, W, in] (NHWC, frames of a sample adjacent), timestep [N], context [N, T, D] -> [N, H, W, out]. */
  forward(sample: tf.Tensor4D, timestep: tf.Tensor1D, context: tf.Tensor3D | null, frames: number): tf.Tensor4D {
    const cfg = this.config;
    const ch = cfg.block_out_channels;
    const levels = ch.length;
    const f = cfg.use_inflated_groupnorm ? 1 : frames;
    const freqs = tf.tensor(timestepFrequencies(ch[0], cfg.freq_shift, 10000), [1, ch[0] / 2]);
    const args = timestep.reshape([-1, 1]).mul(freqs);
    const tProj = cfg.flip_sin_to_cos ? tf.concat([tf.cos(args), tf.sin(args)], 1) : tf.concat([tf.sin(args), tf.cos(args)], 1);
    const temb = this.linear(silu(this.linear(tProj, 'time_embedding.linear_1')), 'time_embedding.linear_2') as tf.Tensor2D;
    const ctx = cfg.add_audio_layer ? context : null;

    let h = this.conv(sample, 'conv_in');
    const skips: tf.Tensor4D[] = [h];
    cfg.down_block_types.forEach((type, i) => {
      const heads = hasCrossAttention(type) ? headsOf(cfg, i) : null;
      for (let j = 0; j < cfg.layers_per_block; j++) {
        h = this.resnet(h, temb, `down_blocks.${i}.resnets.${j}`, f);
        if (heads !== null) h = this.transformer(h, ctx, `down_blocks.${i}.attentions.${j}`, heads);
        skips.push(h);
      }
      if (i < levels - 1) {
        h = this.conv(h, `down_blocks.${i}.downsamplers.0.conv`, 2);
        skips.push(h);
      }
    });
    h = this.resnet(h, temb, 'mid_block.resnets.0', f);
    h = this.transformer(h, ctx, 'mid_block.attentions.0', headsOf(cfg, levels - 1));
    h = this.resnet(h, temb, 'mid_block.resnets.1', f);
    cfg.up_block_types.forEach((type, i) => {
      const heads = hasCrossAttention(type) ? headsOf(cfg, levels - 1 - i) : null;
      for (let j = 0; j <= cfg.layers_per_block; j++) {
        h = this.resnet(tf.concat([h, skips.pop()!], 3), temb, `up_blocks.${i}.resnets.${j}`, f);
        if (heads !== null) h = this.transformer(h, ctx, `up_blocks.${i}.attentions.${j}`, heads);
      }
      if (i < levels - 1) h = this.conv(upsampleNearest2x(h), `up_blocks.${i}.upsamplers.0.conv`);
    });
    return this.conv(silu(this.groupNorm(h, 'conv_norm_out', cfg.norm_eps, f)) as tf.Tensor4D, 'conv_out');
  }

  /** The batch's tensors in TF.js layout (uploaded now: a training step uploads its batch too). */
  inputs(b: HostBatch): { x: tf.Tensor4D; t: tf.Tensor1D; ctx: tf.Tensor3D; target: tf.Tensor4D } {
    const { n, h, w, tokens, dim } = b.shape;
    return {
      x: tf.tensor4d(nchwToNhwc(b.input, n, 13, h, w), [n, h, w, 13]),
      t: tf.tensor1d(b.timesteps),
      ctx: tf.tensor3d(b.audio, [n, tokens, dim]),
      target: tf.tensor4d(nchwToNhwc(b.target, n, 4, h, w), [n, h, w, 4]),
    };
  }

  /** LatentSync stage 1's loss: MSE between the predicted and the true noise. */
  loss(b: HostBatch): tf.Scalar {
    return tf.tidy(() => {
      const { x, t, ctx, target } = this.inputs(b);
      return tf.mean(tf.squaredDifference(this.forward(x, t, ctx, b.shape.frames), target)) as tf.Scalar;
    });
  }

  /** The loss and the gradient of every parameter by our name (TF.js layout), nothing updated. */
  gradients(b: HostBatch): { value: tf.Scalar; grads: Map<string, tf.Tensor> } {
    const { value, grads } = tf.variableGrads(() => this.loss(b), [...this.vars.values()]);
    return { value, grads: new Map([...this.vars.keys()].map((n) => [n, grads[this.prefix + n]])) };
  }

  /** One optimizer step as ours takes it; resolves to [loss, gradient norm] read back, as ours reads them. */
  async trainStep(b: HostBatch, o: AdamWSettings): Promise<[number, number]> {
    const { value, grads } = this.gradients(b);
    const step = ++this.steps;
    // Not tf.addN: on WebGPU it binds every input at once (208 here) and the adapter allows 8 to 10.
    const norm = tf.tidy(() => tf.sqrt([...grads.values()].map((x) => tf.sum(tf.square(x))).reduce((a, b) => tf.add(a, b))));
    const coef = tf.tidy(() => (o.clipNorm === null ? tf.scalar(1) : tf.minimum(1, tf.div(o.clipNorm, norm.add(1e-6)))));
    const [b1, b2] = o.betas;
    const stepSize = o.lr / (1 - b1 ** step);
    const bc2Sqrt = Math.sqrt(1 - b2 ** step);
    // One tidy per parameter and each gradient released after its update: TF.js's best case for memory
    // (tf.train.adam keeps every parameter's temporaries until all are updated).
    for (const [n, p] of this.vars) {
      if (!this.m.has(n)) {
        this.m.set(n, variableOf(tf.zerosLike(p), false));
        this.v.set(n, variableOf(tf.zerosLike(p), false));
      }
      const m = this.m.get(n)!;
      const v = this.v.get(n)!;
      const g = grads.get(n)!;
      tf.tidy(() => {
        const gi = g.mul(coef);
        m.assign(m.mul(b1).add(gi.mul(1 - b1)));
        v.assign(v.mul(b2).add(gi.square().mul(1 - b2)));
        p.assign(p.mul(1 - o.lr * o.weightDecay).sub(m.div(v.sqrt().div(bc2Sqrt).add(o.eps)).mul(stepSize)));
      });
      g.dispose();
    }
    coef.dispose();
    const [loss, gradNorm] = await Promise.all([value.data(), norm.data()]);
    tf.dispose([value, norm]);
    return [loss[0], gradNorm[0]];
  }

  dispose(): void {
    tf.dispose([...this.vars.values(), ...this.m.values(), ...this.v.values()]);
  }
}
