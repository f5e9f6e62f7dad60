import conv2dWgsl from '../../../shaders/conv2d.wgsl?raw';
import type { DType } from '../dtype.ts';
import { record } from '../tape.ts';
import { Tensor } from '../tensor.ts';
import { params, specialize } from '../wgsl.ts';
import { biasGrad } from './bias-grad.ts';
import { asDtype } from './cast.ts';
import { itemsPerChunk, rangeBinding, wholeBinding, type RangeBinding } from './linalg-ranges.ts';
import { planSplit, splitWorkspace, sumSlices } from './split-k.ts';

/** Workgroup shape of the implicit-GEMM kernel (override constants): tiles of 8*WG_Y x 8*WG_X; WG_Y even. */
export const conv2dTiles = { WG_X: 8, WG_Y: 8, TK: 16 };

/** Zero padding: one number for all sides, or [top, bottom, left, right] (diffusers' Downsample2D: [0, 1, 0, 1]). */
export type Padding2d = number | readonly [number, number, number, number];

export interface Conv2dOptions {
  stride?: 1 | 2;
  padding?: Padding2d;
  /** Output storage; defaults to x's. */
  dtype?: DType;
}

/** Sizes shared by the three GEMMs of a convolution. */
interface ConvGeometry {
  images: number;
  Cin: number;
  H: number;
  W: number;
  Cout: number;
  OH: number;
  OW: number;
  KS: number;
  stride: number;
  top: number;
  left: number;
}

/** The kernel's MODE: which of the convolution's three GEMMs it runs. */
const Mode = { Forward: 0, InputGrad: 1, WeightGrad: 2 } as const;
type Mode = (typeof Mode)[keyof typeof Mode];
const MODE_NAMES = ['fwd', 'dgrad', 'wgrad'];

/**
 * torch.nn.functional.conv2d on NCHW: x [N, Cin, H, W], weight [Cout, Cin, k, k] (k = 1 or 3), bias [Cout]
 * -> [N, Cout, OH, OW] with OH = floor((H + top + bottom - k) / stride) + 1 (OW alike).
 */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const stride = opts.stride ?? 1;
  const pad = opts.padding ?? 0;
  const [top, bottom, left, right] = typeof pad === 'number' ? [pad, pad, pad, pad] : pad;
  if (x.shape.length !== 4 || weight.shape.length !== 4) throw new Error(`conv2d: x [${x.shape}] and weight [${weight.shape}] must be 4-D`);
  const [images, Cin, H, W] = x.shape;
  const [Cout, wCin, KS, KS2] = weight.shape;
  if (wCin !== Cin) throw new Error(`conv2d: weight [${weight.shape}] for ${Cin} input channels`);
  if (KS !== KS2 || (KS !== 1 && KS !== 3)) throw new Error(`conv2d: kernel ${KS}x${KS2}; only 1x1 and 3x3 are supported`);
  if (stride !== 1 && stride !== 2) throw new Error(`conv2d: stride ${stride}; only 1 and 2 are supported`);
  if (![top, bottom, left, right].every((v) => Number.isInteger(v) && v >= 0)) throw new Error(`conv2d: bad padding ${opts.padding}`);
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== Cout)) throw new Error(`conv2d: bias [${bias.shape}] for ${Cout} channels`);
  const OH = Math.floor((H + top + bottom - KS) / stride) + 1;
  const OW = Math.floor((W + left + right - KS) / stride) + 1;
  if (OH < 1 || OW < 1) throw new Error(`conv2d: ${H}x${W} input is smaller than the ${KS}x${KS} kernel`);
  const geo: ConvGeometry = { images, Cin, H, W, Cout, OH, OW, KS, stride, top, left };

  const y32 = Tensor.empty(x.rt, [images, Cout, OH, OW], 'f32', 'activations', 'conv2d');
  convGemm(Mode.Forward, geo, weight, x, y32, bias ?? null);
  const y = asDtype(y32, opts.dtype ?? x.dtype);

  const needX = x.requiresGrad;
  const needW = weight.requiresGrad;
  const needBias = !!bias?.requiresGrad;
  // dx reads the weight, dweight reads x: keep only what the wanted gradients need.
  const saved = [...(needW ? [x] : []), ...(needX ? [weight] : [])];
  record('conv2d', [x, weight, bias], [y], saved, ([gy], s) => {
    if (!gy) return [null, null, null];
    const sx = needW ? s[0] : null;
    const sw = needX ? s[needW ? 1 : 0] : null;
    let gx: Tensor | null = null;
    let gw: Tensor | null = null;
    if (sw) {
      gx = Tensor.empty(gy.rt, [images, Cin, H, W], 'f32', 'activations', 'conv2d dx');
      convGemm(Mode.InputGrad, geo, sw, gy, gx, null);
    }
    if (sx) {
      gw = Tensor.empty(gy.rt, weight.shape, 'f32', 'activations', 'conv2d dweight');
      convGemm(Mode.WeightGrad, geo, gy, sx, gw, null);
    }
    const gb = needBias ? biasGrad(gy, images, Cout, OH * OW) : null;
    return [gx, gw, gb];
  });
  return y;
}

/** The kernel for one GEMM: main's calls to column/loadA/loadB/outIndex go to that GEMM's versions. */
const sources = new Map<string, string>();
function kernelSource(mode: Mode, a: Tensor, b: Tensor, bias: Tensor): string {
  const key = `${mode}|${a.dtype}|${b.dtype}|${bias.dtype}`;
  let src = sources.get(key);
  if (!src) {
    src = specialize(conv2dWgsl.replace(/\b(column|loadA|loadB|outIndex)\(/g, `$1_${MODE_NAMES[mode]}(`), { a: a.dtype, b: b.dtype, bias: bias.dtype });
    sources.set(key, src);
  }
  return src;
}

/**
 * Records one of the three GEMMs (see shaders/conv2d.wgsl) in chunks of whole images, so that no binding
 * passes maxStorageBufferBindingSize and no grid passes maxComputeWorkgroupsPerDimension. Forward and dx
 * chunks write disjoint images; dweight chunks accumulate.
 */
function convGemm(mode: Mode, g: ConvGeometry, a: Tensor, b: Tensor, out: Tensor, bias: Tensor | null): void {
  const rt = out.rt;
  const { WG_X, WG_Y, TK } = conv2dTiles;
  const TM = 8 * WG_Y;
  const TN = 8 * WG_X;
  if (WG_Y % 2 !== 0) throw new Error(`conv2dTiles.WG_Y = ${WG_Y} must be even`);
  const limit = rt.limits.maxStorageBufferBindingSize;
  const maxGrid = rt.limits.maxComputeWorkgroupsPerDimension;
  const KK = g.KS * g.KS;
  const inPix = g.H * g.W;
  const outPix = g.OH * g.OW;
  const xPer = g.Cin * inPix;
  const yPer = g.Cout * outPix;

  // Per mode: GEMM sizes for n images, and elements per image of the chunked tensors (a, b, out; 0 = whole).
  const sizes = {
    [Mode.Forward]: { M: g.Cout, K: g.Cin * KK, N: (n: number) => n * outPix, per: [0, xPer, yPer] },
    [Mode.InputGrad]: { M: g.Cin, K: g.Cout * KK, N: (n: number) => n * inPix, per: [0, yPer, xPer] },
    [Mode.WeightGrad]: { M: g.Cout, K: outPix, N: () => g.Cin * KK, per: [yPer, xPer, 0] },
  }[mode];
  const tensors = [a, b, out];
  const chunk = itemsPerChunk(g.images, tensors.map((t, i) => [t, sizes.per[i]] as const), limit, (n) => Math.ceil(sizes.N(n) / TN) <= maxGrid);
  if (chunk === 0 || Math.ceil(sizes.M / TM) > maxGrid) throw new RangeError(`conv2d: one image of [${g.images}, ${g.Cin}, ${g.H}, ${g.W}] does not fit a binding`);

  const kernel = { source: kernelSource(mode, a, b, bias ?? a), label: `conv2d-${MODE_NAMES[mode]}`, constants: { KS: g.KS, STRIDE: g.stride, WG_X, WG_Y, TK } };
  const biasBinding = bias ? wholeBinding(bias, limit) : null;
  for (let n0 = 0; n0 < g.images; n0 += chunk) {
    const n = Math.min(chunk, g.images - n0);
    const [ra, rb, rc]: RangeBinding[] = tensors.map((t, i) => (sizes.per[i] ? rangeBinding(t, n0 * sizes.per[i], n * sizes.per[i], limit) : wholeBinding(t, limit)));
    const rbias = biasBinding ?? ra;
    const N = sizes.N(n);
    const grid: [number, number, number] = [Math.ceil(N / TN), Math.ceil(sizes.M / TM), 1];
    const uniforms = (out: RangeBinding, flags: number, kSlice: number) =>
      params([
        ['u32', sizes.M], ['u32', N], ['u32', sizes.K], ['u32', mode === Mode.WeightGrad ? n : 1],
        ['u32', g.Cin], ['u32', g.H], ['u32', g.W], ['u32', g.Cout],
        ['u32', g.OH], ['u32', g.OW], ['u32', g.top], ['u32', g.left],
        ['u32', ra.base], ['u32', rb.base], ['u32', out.base], ['u32', rbias.base],
        ['u32', flags], ['u32', kSlice],
      ]);
    // dweight: a few output tiles over a deep sum (every pixel of every image); split it across workgroups.
    const plan = mode === Mode.WeightGrad ? planSplit(rt, grid[0] * grid[1], n * sizes.K, sizes.M * N, TK) : null;
    if (plan) {
      const ws = splitWorkspace(rt, plan, sizes.M * N, 'conv2d dweight');
      const rws = wholeBinding(ws, limit);
      rt.dispatch(kernel, [ra.binding, rb.binding, rbias.binding, rws.binding], uniforms(rws, 4, plan.sliceDepth), [grid[0], grid[1], plan.slices]);
      sumSlices(rt, ws, plan.slices, sizes.M * N, rc, n0 > 0);
      ws.dispose();
    } else {
      const flags = (mode === Mode.WeightGrad && n0 > 0 ? 1 : 0) | (bias ? 2 : 0);
      rt.dispatch(kernel, [ra.binding, rb.binding, rbias.binding, rc.binding], uniforms(rc, flags, 0), grid);
    }
  }
}
