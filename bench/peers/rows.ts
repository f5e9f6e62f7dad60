/**
 * The rows of the peer comparison (issue 11): the same op, the same shapes and the same host inputs for
 * every library. Layouts are ours (NCHW; attention [B, N, heads*D] with channel = head*D + d); a peer
 * that prefers another layout gets its inputs transposed before timing and its outputs transposed back
 * for the check. Shapes are scaled for SwiftShader: UNet channels 320/640 become 64/128, latents 32x32
 * and 64x64 keep their size at fewer channels.
 */
export type PeerScale = 'tiny' | 'default' | 'full';

export type RowSpec =
  | { kind: 'matmul'; M: number; K: number; N: number }
  | { kind: 'conv3x3'; n: number; cin: number; h: number; w: number; cout: number }
  | { kind: 'group_norm'; n: number; c: number; h: number; w: number; groups: number; eps: number }
  | { kind: 'attention'; B: number; nq: number; nk: number; heads: number; D: number };

export interface PeerRow {
  id: string;
  spec: RowSpec;
  /** Also time forward + backward (against the peers that train). */
  backward: boolean;
  flops: number;
}

/** Input shapes of a row, in our layout: matmul a, b; conv x, w, bias; group norm x, weight, bias; attention q, k, v. */
export function rowInputs(s: RowSpec): number[][] {
  switch (s.kind) {
    case 'matmul':
      return [[s.M, s.K], [s.K, s.N]];
    case 'conv3x3':
      return [[s.n, s.cin, s.h, s.w], [s.cout, s.cin, 3, 3], [s.cout]];
    case 'group_norm':
      return [[s.n, s.c, s.h, s.w], [s.c], [s.c]];
    case 'attention':
      return [[s.B, s.nq, s.heads * s.D], [s.B, s.nk, s.heads * s.D], [s.B, s.nk, s.heads * s.D]];
  }
}

export function rowOutput(s: RowSpec): number[] {
  switch (s.kind) {
    case 'matmul':
      return [s.M, s.N];
    case 'conv3x3':
      return [s.n, s.cout, s.h, s.w];
    case 'group_norm':
      return [s.n, s.c, s.h, s.w];
    case 'attention':
      return [s.B, s.nq, s.heads * s.D];
  }
}

function flopsOf(s: RowSpec): number {
  switch (s.kind) {
    case 'matmul':
      return 2 * s.M * s.K * s.N;
    case 'conv3x3':
      return 2 * s.n * s.cout * s.h * s.w * s.cin * 9;
    case 'group_norm':
      return 8 * s.n * s.c * s.h * s.w;
    case 'attention':
      return 4 * s.B * s.heads * s.nq * s.nk * s.D;
  }
}

const row = (id: string, spec: RowSpec, backward: boolean): PeerRow => ({ id, spec, backward, flops: flopsOf(spec) });

export function peerRows(scale: PeerScale = 'default'): PeerRow[] {
  if (scale === 'tiny') {
    return [
      row('matmul 16x24x8', { kind: 'matmul', M: 16, K: 24, N: 8 }, true),
      row('conv3x3 [1,4,6,6]->8', { kind: 'conv3x3', n: 1, cin: 4, h: 6, w: 6, cout: 8 }, true),
      row('group_norm [2,8,4,4] g4', { kind: 'group_norm', n: 2, c: 8, h: 4, w: 4, groups: 4, eps: 1e-5 }, true),
      row('attention self 12, 2x8', { kind: 'attention', B: 1, nq: 12, nk: 12, heads: 2, D: 8 }, true),
      row('attention cross 12x5, 2x8', { kind: 'attention', B: 1, nq: 12, nk: 5, heads: 2, D: 8 }, true),
    ];
  }
  const rows = [
    row('matmul 128', { kind: 'matmul', M: 128, K: 128, N: 128 }, false),
    row('matmul 256', { kind: 'matmul', M: 256, K: 256, N: 256 }, true),
    row('matmul 512', { kind: 'matmul', M: 512, K: 512, N: 512 }, false),
    row('matmul 1024x320x320 (proj)', { kind: 'matmul', M: 1024, K: 320, N: 320 }, false),
    row('conv3x3 64ch 32x32 (320 scaled)', { kind: 'conv3x3', n: 1, cin: 64, h: 32, w: 32, cout: 64 }, true),
    row('conv3x3 128ch 16x16 (640 scaled)', { kind: 'conv3x3', n: 1, cin: 128, h: 16, w: 16, cout: 128 }, false),
    row('conv3x3 32ch 64x64 (320 scaled)', { kind: 'conv3x3', n: 1, cin: 32, h: 64, w: 64, cout: 32 }, false),
    row('group_norm [2,64,32,32] g32', { kind: 'group_norm', n: 2, c: 64, h: 32, w: 32, groups: 32, eps: 1e-5 }, true),
    row('attention self 256, 2x32', { kind: 'attention', B: 1, nq: 256, nk: 256, heads: 2, D: 32 }, true),
    row('attention self 512, 2x32', { kind: 'attention', B: 1, nq: 512, nk: 512, heads: 2, D: 32 }, true),
    row('attention self 1024, 2x32', { kind: 'attention', B: 1, nq: 1024, nk: 1024, heads: 2, D: 32 }, false),
    row('attention cross 1024x50, 2x32', { kind: 'attention', B: 1, nq: 1024, nk: 50, heads: 2, D: 32 }, true),
  ];
  if (scale === 'full') {
    rows.push(
      row('matmul 1024', { kind: 'matmul', M: 1024, K: 1024, N: 1024 }, true),
      row('conv3x3 320ch 32x32', { kind: 'conv3x3', n: 1, cin: 320, h: 32, w: 32, cout: 320 }, true),
      row('attention self 4096, 8x40', { kind: 'attention', B: 1, nq: 4096, nk: 4096, heads: 8, D: 40 }, true),
    );
  }
  return rows;
}
