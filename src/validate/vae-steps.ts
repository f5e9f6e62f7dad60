import type { ResnetBlock2D } from '../nn/blocks/resnet-block-2d.ts';
import type { Conv2d } from '../nn/layers/conv2d.ts';
import type { GroupNorm } from '../nn/layers/group-norm.ts';
import type { AutoencoderKL } from '../nn/vae/autoencoder-kl.ts';
import type { VaeMidBlock } from '../nn/vae/mid-block.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { leanAttention } from './lean-attention.ts';
import { convOutSize, padding4 } from './tiles.ts';

/**
 * The VAE's encoder or decoder as a list of steps over activation maps, built from the model's own modules
 * (their weights are used in place). A conv step is everything between two maps that one output tile can
 * compute from one fetched input region: GroupNorm (with statistics of the whole map) + SiLU, nearest 2x
 * upsampling, 1x1 convs, the spatial conv, and a residual branch. A whole step (the mid-block attention,
 * at latent resolution) runs the module's layers on the whole map (see lean-attention.ts).
 */
export interface MapInfo {
  channels: number;
  h: number;
  w: number;
  /** GroupNorm groups of the step that normalizes this map (its tiles then report moments), or 0. */
  statsGroups: number;
}

export interface ConvStep {
  kind: 'conv';
  label: string;
  input: number;
  output: number;
  /** GroupNorm of the input (statistics over the whole input map), followed by SiLU. */
  norm: GroupNorm | null;
  /** Nearest upsampling factor applied to the input before the convs (1 or 2). */
  up: 1 | 2;
  /** 1x1 convs on the fetched region before the spatial conv (post_quant_conv). */
  pre: Conv2d[];
  conv: Conv2d;
  /** 1x1 convs on the tile after the spatial conv (quant_conv). */
  post: Conv2d[];
  /** Added to the tile: the map `input` at the same pixels, through `shortcut` when channels change. */
  residual: { input: number; shortcut: Conv2d | null } | null;
}

export interface WholeStep {
  kind: 'whole';
  label: string;
  input: number;
  output: number;
  /** The step's output from its input map, which `fetch` assembles (again, each call) on the GPU. */
  run: (fetch: () => Tensor) => Tensor;
}

export type Step = ConvStep | WholeStep;

export interface StepGraph {
  maps: MapInfo[];
  steps: Step[];
}

class Builder {
  readonly maps: MapInfo[] = [];
  readonly steps: Step[] = [];

  map(channels: number, h: number, w: number): number {
    this.maps.push({ channels, h, w, statsGroups: 0 });
    return this.maps.length - 1;
  }

  conv(label: string, input: number, o: Partial<Omit<ConvStep, 'kind' | 'label' | 'input' | 'output'>> & { conv: Conv2d }): number {
    const src = this.maps[input];
    const up = o.up ?? 1;
    const g = { kernel: o.conv.kernelSize, stride: o.conv.stride, padding: padding4(o.conv.padding) };
    const h = convOutSize(src.h * up, g.kernel, g.stride, g.padding[0], g.padding[1]);
    const w = convOutSize(src.w * up, g.kernel, g.stride, g.padding[2], g.padding[3]);
    const last = o.post?.length ? o.post[o.post.length - 1] : o.conv;
    const output = this.map(last.outChannels, h, w);
    const norm = o.norm ?? null;
    if (norm) this.normalizes(input, norm);
    this.steps.push({ kind: 'conv', label, input, output, norm, up, pre: o.pre ?? [], conv: o.conv, post: o.post ?? [], residual: o.residual ?? null });
    return output;
  }

  whole(label: string, input: number, run: (fetch: () => Tensor) => Tensor): number {
    const src = this.maps[input];
    const output = this.map(src.channels, src.h, src.w);
    this.steps.push({ kind: 'whole', label, input, output, run });
    return output;
  }

  resnet(label: string, x: number, r: ResnetBlock2D): number {
    const h = this.conv(`${label}.conv1`, x, { norm: r.norm1, conv: r.conv1 });
    return this.conv(`${label}.conv2`, h, { norm: r.norm2, conv: r.conv2, residual: { input: x, shortcut: r.convShortcut } });
  }

  mid(label: string, x: number, m: VaeMidBlock): number {
    let h = this.resnet(`${label}.resnets.0`, x, m.resnets[0]);
    const attention = m.attention;
    if (attention) h = this.whole(`${label}.attentions.0`, h, (fetch) => leanAttention(attention, fetch));
    return this.resnet(`${label}.resnets.1`, h, m.resnets[1]);
  }

  private normalizes(map: number, norm: GroupNorm): void {
    const m = this.maps[map];
    if (m.statsGroups && m.statsGroups !== norm.groups) throw new Error('tiled VAE: a map normalized with two group counts');
    m.statsGroups = norm.groups;
  }
}

/** The decoder (post_quant_conv first) for latents [*, latent_channels, h, w]. */
export function decoderSteps(vae: AutoencoderKL, h: number, w: number): StepGraph {
  const d = vae.decoder;
  const b = new Builder();
  let x = b.map(vae.config.latent_channels, h, w);
  x = b.conv('decoder.conv_in', x, { pre: vae.postQuantConv ? [vae.postQuantConv] : [], conv: d.convIn });
  x = b.mid('decoder.mid_block', x, d.midBlock);
  d.upBlocks.forEach((block, i) => {
    block.resnets.forEach((r, j) => (x = b.resnet(`decoder.up_blocks.${i}.resnets.${j}`, x, r)));
    if (block.upsampler) x = b.conv(`decoder.up_blocks.${i}.upsamplers.0`, x, { up: 2, conv: block.upsampler.conv });
  });
  b.conv('decoder.conv_out', x, { norm: d.convNormOut, conv: d.convOut });
  return b;
}

/** The encoder (quant_conv last) for images [*, in_channels, H, W]: the moments map [*, 2 * latent, h, w]. */
export function encoderSteps(vae: AutoencoderKL, h: number, w: number): StepGraph {
  const e = vae.encoder;
  const b = new Builder();
  let x = b.map(vae.config.in_channels, h, w);
  x = b.conv('encoder.conv_in', x, { conv: e.convIn });
  e.downBlocks.forEach((block, i) => {
    block.resnets.forEach((r, j) => (x = b.resnet(`encoder.down_blocks.${i}.resnets.${j}`, x, r)));
    if (block.downsampler) x = b.conv(`encoder.down_blocks.${i}.downsamplers.0`, x, { conv: block.downsampler.conv });
  });
  x = b.mid('encoder.mid_block', x, e.midBlock);
  b.conv('encoder.conv_out', x, { norm: e.convNormOut, conv: e.convOut, post: vae.quantConv ? [vae.quantConv] : [] });
  return b;
}
