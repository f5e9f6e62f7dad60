/** What the peers page asks of each library: prepare a row once (inputs uploaded), then run it many times. */
import type { PeerRow } from './rows.ts';

export interface Prepared {
  /** One run; resolves when the library's GPU work is done (not when it is read back). */
  run(): Promise<void>;
  /**
   * The outputs of one more run, on the host in our layout: forward [y]; forward + backward the gradient
   * of sum(y * gy) for each input, in rowInputs order.
   */
  read(): Promise<Float32Array[]>;
  dispose(): void | Promise<void>;
}

export interface Peer {
  name: string;
  version: string;
  /** Has autograd: forward + backward rows are run against it. */
  trains: boolean;
  init(): Promise<void>;
  /** A prepared row, or the reason this library cannot run it. */
  prepare(row: PeerRow, mode: 'fwd' | 'fwdbwd', inputs: Float32Array[], gy: Float32Array): Promise<Prepared | string>;
}

/** NCHW <-> NHWC on the host (for libraries whose convolutions are channels-last). */
export function nchwToNhwc(x: Float32Array, n: number, c: number, h: number, w: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let i = 0; i < n; i++) for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) y[(i * h * w + p) * c + ch] = x[(i * c + ch) * h * w + p];
  return y;
}

export function nhwcToNchw(y: Float32Array, n: number, c: number, h: number, w: number): Float32Array {
  const x = new Float32Array(y.length);
  for (let i = 0; i < n; i++) for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) x[(i * c + ch) * h * w + p] = y[(i * h * w + p) * c + ch];
  return x;
}

/** OIHW <-> HWIO (TF.js filters). */
export function oihwToHwio(wt: Float32Array, o: number, i: number, kh: number, kw: number): Float32Array {
  const y = new Float32Array(wt.length);
  for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let r = 0; r < kh * kw; r++) y[(r * i + b) * o + a] = wt[(a * i + b) * kh * kw + r];
  return y;
}

export function hwioToOihw(y: Float32Array, o: number, i: number, kh: number, kw: number): Float32Array {
  const wt = new Float32Array(y.length);
  for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let r = 0; r < kh * kw; r++) wt[(a * i + b) * kh * kw + r] = y[(r * i + b) * o + a];
  return wt;
}
