/**
 * The ops suite's rows (issue 3): each op of src/tensor/ops at a shape sized for SwiftShader, with the work
 * it does (FLOPs, and the least bytes it must move) so that a time is also a fraction of the adapter's
 * ceiling. DOM-free: the Node suite and the browser page run the same cases.
 */
import { add } from '../../src/tensor/ops/add.ts';
import { attention } from '../../src/tensor/ops/attention.ts';
import { conv2d } from '../../src/tensor/ops/conv2d.ts';
import { geglu } from '../../src/tensor/ops/geglu.ts';
import { gelu } from '../../src/tensor/ops/gelu.ts';
import { groupNorm } from '../../src/tensor/ops/group-norm.ts';
import { layerNorm } from '../../src/tensor/ops/layer-norm.ts';
import { linear } from '../../src/tensor/ops/linear.ts';
import { matmul } from '../../src/tensor/ops/matmul.ts';
import { mseLoss } from '../../src/tensor/ops/mse-loss.ts';
import { mul } from '../../src/tensor/ops/mul.ts';
import { mean, sum } from '../../src/tensor/ops/reduce.ts';
import { silu } from '../../src/tensor/ops/silu.ts';
import { softmax } from '../../src/tensor/ops/softmax.ts';
import type { Tensor } from '../../src/tensor/tensor.ts';
import { numel } from '../lib/random.ts';

export type Scale = 'tiny' | 'default' | 'full';

export interface InputSpec {
  shape: number[];
  /** Differentiated in the backward row. */
  grad?: boolean;
  /** Positive values (e.g. norm weights near 1). */
  positive?: boolean;
}

export interface OpCase {
  /** Row name, e.g. "conv2d 3x3 s1". */
  name: string;
  op: string;
  /** The shapes, in words. */
  shape: string;
  inputs: InputSpec[];
  forward: (xs: Tensor[]) => Tensor;
  /** Work of the forward and of the backward (FLOPs; bytes it must read and write at least). */
  flops: { fwd: number; bwd?: number };
  bytes: { fwd: number; bwd?: number };
  /** No backward row (AdamW is its own kind: see ops.ts). */
  noBackward?: boolean;
}

const F = 4; // bytes per f32

function gemmCase(name: string, op: string, M: number, K: number, N: number, batch: number, fwd: (xs: Tensor[]) => Tensor, inputs: InputSpec[]): OpCase {
  const f = 2 * batch * M * N * K;
  return {
    name,
    op,
    shape: `${batch > 1 ? `${batch}x ` : ''}[${M}x${K}]@[${K}x${N}]`,
    inputs,
    forward: fwd,
    flops: { fwd: f, bwd: 2 * f },
    bytes: { fwd: F * batch * (M * K + K * N + M * N), bwd: 2 * F * batch * (M * K + K * N + M * N) },
  };
}

function convCase(name: string, n: number, cin: number, h: number, cout: number, k: 1 | 3, stride: 1 | 2): OpCase {
  const pad = k === 3 ? (stride === 1 ? 1 : ([0, 1, 0, 1] as const)) : 0;
  const oh = Math.floor((h + (k === 3 ? 2 : 0) * (stride === 1 ? 1 : 0.5) - k) / stride) + 1;
  const f = 2 * n * cout * oh * oh * cin * k * k;
  const io = F * (n * cin * h * h + cout * cin * k * k + n * cout * oh * oh);
  return {
    name,
    op: 'conv2d',
    shape: `x[${n},${cin},${h},${h}] w[${cout},${cin},${k},${k}] s${stride} -> ${oh}x${oh}`,
    inputs: [{ shape: [n, cin, h, h], grad: true }, { shape: [cout, cin, k, k], grad: true }, { shape: [cout], grad: true }],
    forward: ([x, w, b]) => conv2d(x, w, b, { stride, padding: pad }),
    flops: { fwd: f, bwd: 2 * f },
    bytes: { fwd: io, bwd: 2 * io },
  };
}

function pointwise(name: string, op: string, shape: number[], fwd: (xs: Tensor[]) => Tensor, flopsPer: number, nIn = 1, bShape?: number[]): OpCase {
  const n = numel(shape);
  const inputs: InputSpec[] = [{ shape, grad: true }];
  if (nIn === 2) inputs.push({ shape: bShape ?? shape, grad: true });
  const inBytes = F * inputs.reduce((s, i) => s + numel(i.shape), 0);
  return {
    name,
    op,
    shape: inputs.map((i) => `[${i.shape}]`).join(' ') ,
    inputs,
    forward: fwd,
    flops: { fwd: flopsPer * n, bwd: 2 * flopsPer * n },
    // backward reads the inputs and gy and writes one gradient per input
    bytes: { fwd: inBytes + F * n, bwd: 2 * inBytes + F * n },
  };
}

function attentionCase(name: string, B: number, nq: number, nk: number, heads: number, D: number): OpCase {
  const C = heads * D;
  const f = 4 * B * heads * nq * nk * D;
  return {
    name,
    op: 'attention',
    shape: `B${B} q${nq} k${nk} ${heads}x${D}`,
    inputs: [{ shape: [B, nq, C], grad: true }, { shape: [B, nk, C], grad: true }, { shape: [B, nk, C], grad: true }],
    forward: ([q, k, v]) => attention(q, k, v, heads),
    // backward recomputes the scores (FlashAttention-2): about 2.5x the forward's FLOPs
    flops: { fwd: f, bwd: 2.5 * f },
    bytes: { fwd: F * B * C * (2 * nq + 2 * nk), bwd: F * B * C * (4 * nq + 4 * nk) },
  };
}

/** Sizes per scale: tiny for the harness test, default for a few minutes on SwiftShader, full for real GPUs. */
const SIZES = {
  tiny: { g: 32, img: 8, ch: 8, n: 1024, tok: [16], cross: [16, 8], hd: [1, 8], gnF: 2 },
  default: { g: 256, img: 32, ch: 32, n: 1 << 18, tok: [256, 512], cross: [1024, 50], hd: [2, 32], gnF: 4 },
  full: { g: 1024, img: 64, ch: 128, n: 1 << 22, tok: [256, 1024, 4096], cross: [4096, 77], hd: [8, 40], gnF: 8 },
};

export function opCases(scale: Scale = 'default'): OpCase[] {
  const s = SIZES[scale];
  const g = s.g;
  const [heads, D] = s.hd;
  const C = s.ch;
  const rows = s.n / (4 * C);
  const cases: OpCase[] = [
    gemmCase(`matmul ${g}`, 'matmul', g, g, g, 1, ([a, b]) => matmul(a, b), [{ shape: [g, g], grad: true }, { shape: [g, g], grad: true }]),
    gemmCase(`matmul ${g / 2} x${8} batched`, 'matmul', g / 2, g / 4, g / 2, 8, ([a, b]) => matmul(a, b), [
      { shape: [8, g / 2, g / 4], grad: true },
      { shape: [8, g / 4, g / 2], grad: true },
    ]),
    gemmCase(`linear ${4 * C}->${4 * C}`, 'linear', 2 * g, 4 * C, 4 * C, 1, ([x, w, b]) => linear(x, w, b), [
      { shape: [2 * g, 4 * C], grad: true },
      { shape: [4 * C, 4 * C], grad: true },
      { shape: [4 * C], grad: true },
    ]),
    convCase('conv2d 3x3 s1', 2, C, s.img, C, 3, 1),
    convCase('conv2d 3x3 s2', 2, C, s.img, C, 3, 2),
    convCase('conv2d 1x1 s1', 2, 2 * C, s.img, C, 1, 1),
    convCase('conv2d 1x1 s2', 2, 2 * C, s.img, C, 1, 2),
    {
      name: `group_norm ${s.gnF} frames pooled`,
      op: 'group_norm',
      shape: `[${2 * s.gnF},${2 * C},${s.img / 2},${s.img / 2}] g${Math.min(32, 2 * C)} F${s.gnF}`,
      inputs: [{ shape: [2 * s.gnF, 2 * C, s.img / 2, s.img / 2], grad: true }, { shape: [2 * C], grad: true, positive: true }, { shape: [2 * C], grad: true }],
      forward: ([x, w, b]) => groupNorm(x, w, b, { groups: Math.min(32, 2 * C), framesPerSample: s.gnF }),
      flops: { fwd: 8 * 2 * s.gnF * 2 * C * (s.img / 2) ** 2, bwd: 12 * 2 * s.gnF * 2 * C * (s.img / 2) ** 2 },
      bytes: { fwd: 2 * F * 2 * s.gnF * 2 * C * (s.img / 2) ** 2, bwd: 3 * F * 2 * s.gnF * 2 * C * (s.img / 2) ** 2 },
    },
    {
      name: 'layer_norm',
      op: 'layer_norm',
      shape: `[${rows},${4 * C}]`,
      inputs: [{ shape: [rows, 4 * C], grad: true }, { shape: [4 * C], grad: true, positive: true }, { shape: [4 * C], grad: true }],
      forward: ([x, w, b]) => layerNorm(x, w, b),
      flops: { fwd: 8 * rows * 4 * C, bwd: 12 * rows * 4 * C },
      bytes: { fwd: 2 * F * rows * 4 * C, bwd: 3 * F * rows * 4 * C },
    },
    pointwise('silu', 'silu', [s.n], ([x]) => silu(x), 5),
    pointwise('gelu (erf)', 'gelu', [s.n], ([x]) => gelu(x, 'erf'), 10),
    { ...pointwise('geglu', 'geglu', [rows, 8 * C], ([x]) => geglu(x), 6), bytes: { fwd: F * rows * 12 * C, bwd: F * rows * 20 * C } },
    pointwise('add', 'add', [s.n], ([a, b]) => add(a, b), 1, 2),
    pointwise('add (channel broadcast)', 'add', [2, 4 * C, s.n / (8 * C)], ([a, b]) => add(a, b), 1, 2, [1, 4 * C, 1]),
    pointwise('mul', 'mul', [s.n], ([a, b]) => mul(a, b), 1, 2),
    pointwise('softmax', 'softmax', [s.n / 256, 256], ([x]) => softmax(x), 5),
    ...s.tok.map((t) => attentionCase(`attention self ${t}`, 1, t, t, heads, D)),
    attentionCase(`attention cross ${s.cross[0]}x${s.cross[1]}`, 1, s.cross[0], s.cross[1], heads, D),
    { ...pointwise('mse', 'mse', [s.n], ([a, b]) => mseLoss(a, b), 3, 2), bytes: { fwd: 2 * F * s.n, bwd: 4 * F * s.n } },
    { ...pointwise('sum (all)', 'sum', [s.n], ([x]) => sum(x), 1), bytes: { fwd: F * s.n, bwd: F * s.n } },
    { ...pointwise('mean (last dim)', 'mean', [s.n / 256, 256], ([x]) => mean(x, -1), 1), bytes: { fwd: F * s.n, bwd: F * s.n } },
  ];
  return cases;
}

/** AdamW over this many f32 parameters (split into four tensors, as a model's are). */
export const adamwParams = (scale: Scale): number => SIZES[scale].n;
