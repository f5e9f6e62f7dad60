/**
 * The adapter's ceiling, measured in WGSL: FMA throughput (independent vec4 FMA chains per thread, the best
 * of a few workgroup sizes) and copy bandwidth (a vec4 copy kernel, and copyBufferToBuffer). Every op row
 * is then also a fraction of what this adapter did in the same process. DOM-free.
 */
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { params } from '../../src/tensor/wgsl.ts';
import type { GpuTimer, MeasureOptions, Timing } from '../lib/timer.ts';

/** Per thread: CHAINS independent vec4 accumulators, ITERS rounds of one FMA each (8 FLOPs per vec4 FMA). */
const FMA_WGSL = /* wgsl */ `
struct P { iters: u32, seed: f32 }
@group(0) @binding(0) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(1) var<uniform> p: P;
override WG: u32 = 64;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  var a0 = vec4f(f32(i) * 1e-9, 0.1, 0.2, 0.3);
  var a1 = a0 + 0.5; var a2 = a0 + 0.25; var a3 = a0 + 0.125;
  var a4 = a0 + 0.0625; var a5 = a0 + 0.03125; var a6 = a0 + 0.015625; var a7 = a0 + 0.0078125;
  let m = vec4f(p.seed);
  let c = vec4f(1e-7);
  for (var k = 0u; k < p.iters; k++) {
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
  }
  out[i] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}`;
const CHAINS = 8;

const COPY_WGSL = /* wgsl */ `
struct P { n: u32, threads: u32 }
@group(0) @binding(0) var<storage, read> src: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4f>;
@group(0) @binding(2) var<uniform> p: P;
override WG: u32 = 256;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  // Grid-stride: with fewer threads than vec4s each thread copies several (fewer invocations to start).
  for (var i = gid.x + gid.y * nwg.x * WG; i < p.n; i += p.threads) { dst[i] = src[i]; }
}`;

/**
 * Barrier cost: each thread writes workgroup memory, (barrier), reads a neighbour's, ROUNDS times. The same
 * kernel without the barrier (BARRIER = false) is the baseline; the difference per workgroup-barrier is
 * what a tiled kernel pays per synchronization.
 */
const BARRIER_WGSL = /* wgsl */ `
struct P { rounds: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> p: P;
override WG: u32 = 64;
override BARRIER: bool = true;
var<workgroup> sh: array<f32, WG>;
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  var v = f32(lid);
  for (var r = 0u; r < p.rounds; r++) {
    sh[lid] = v;
    if (BARRIER) { workgroupBarrier(); }
    v = sh[(lid + 1u) % WG] * 0.5 + 1.0;
    if (BARRIER) { workgroupBarrier(); }
  }
  out[wid.x * WG + lid] = v;
}`;

export interface CeilingResult {
  /** Best FMA throughput, GFLOP/s. */
  gflops: number;
  /** Best of the copy kernels (bytes read + written), GB/s. */
  gbps: number;
  /** copyBufferToBuffer, GB/s (read + written). */
  copyBufferGbps: number;
  /** Microseconds per workgroup barrier (64 threads), over the same kernel without barriers. */
  barrierUs: number;
  details: { what: string; ms: number; rate: number; unit: string; method: string }[];
}

export interface CeilingOptions extends MeasureOptions {
  /** Total threads x iterations scale: 1 is ~0.5 GFLOP and 64 MiB of copies. */
  size?: number;
}

export async function measureCeiling(rt: GpuRuntime, timer: GpuTimer, opts: CeilingOptions = {}): Promise<CeilingResult> {
  const size = opts.size ?? 1;
  const details: CeilingResult['details'] = [];
  const dims = (groups: number): [number, number, number] => {
    const max = rt.limits.maxComputeWorkgroupsPerDimension;
    return groups <= max ? [groups, 1, 1] : [max, Math.ceil(groups / max), 1];
  };

  // FMA: threads x iters x CHAINS vec4 FMAs (8 FLOPs each).
  // The same FLOPs as many short threads or fewer long ones (per-invocation cost differs by adapter).
  const work = Math.round(65536 * 128 * size);
  const maxThreads = Math.max(256, Math.round(65536 * Math.min(1, size)));
  const out = rt.ledger.alloc(maxThreads * 16, 'workspace', 'ceiling fma out');
  let bestFlops = 0;
  const wgs = [64, 256].filter((w) => w <= rt.limits.maxComputeInvocationsPerWorkgroup);
  for (const [wg, threads] of [...wgs.map((w) => [w, maxThreads]), [wgs[wgs.length - 1], Math.max(wgs[wgs.length - 1], maxThreads / 16)]]) {
    const iters = Math.max(16, Math.round(work / threads));
    const u = params([['u32', iters], ['f32', 0.999]]);
    const t = await timer.measure({ run: () => { rt.dispatch({ source: FMA_WGSL, constants: { WG: wg }, label: 'ceiling fma' }, [out], u, dims(threads / wg)); rt.flush(); } }, opts);
    const flops = threads * iters * CHAINS * 8;
    const rate = flops / t.ms / 1e6;
    details.push({ what: `fma vec4 x${CHAINS} chains, wg ${wg}, ${threads} threads x ${iters}`, ms: t.ms, rate, unit: 'GFLOP/s', method: t.method });
    bestFlops = Math.max(bestFlops, rate);
  }
  rt.ledger.free(out);

  // Copy: a vec4 kernel and copyBufferToBuffer over the same buffers.
  const bytes = Math.min(64 * 2 ** 20 * size, rt.limits.maxStorageBufferBindingSize) & ~15;
  const src = rt.ledger.alloc(bytes, 'workspace', 'ceiling copy src');
  const dst = rt.ledger.alloc(bytes, 'workspace', 'ceiling copy dst');
  const n4 = bytes / 16;
  let bestCopy = 0;
  for (const [wg, perThread] of [[64, 1], [256, 1], [64, 16], [256, 64]].filter(([w]) => w <= rt.limits.maxComputeInvocationsPerWorkgroup)) {
    const groups = Math.ceil(n4 / perThread / wg);
    const grid = dims(groups);
    const u = params([['u32', n4], ['u32', grid[0] * grid[1] * wg]]);
    const t = await timer.measure({ run: () => { rt.dispatch({ source: COPY_WGSL, constants: { WG: wg }, label: 'ceiling copy' }, [src, dst], u, grid); rt.flush(); } }, opts);
    const rate = (2 * bytes) / t.ms / 1e6;
    details.push({ what: `copy kernel vec4, wg ${wg}, ${perThread} vec4/thread, ${(bytes / 2 ** 20).toFixed(0)} MiB`, ms: t.ms, rate, unit: 'GB/s', method: t.method });
    bestCopy = Math.max(bestCopy, rate);
  }
  const tb: Timing = await timer.measure({ run: () => { rt.copy(src, 0, dst, 0, bytes); rt.flush(); } }, opts);
  const copyBufferGbps = (2 * bytes) / tb.ms / 1e6;
  details.push({ what: `copyBufferToBuffer ${bytes >> 20} MiB`, ms: tb.ms, rate: copyBufferGbps, unit: 'GB/s', method: tb.method });
  rt.ledger.free(src);
  rt.ledger.free(dst);

  // Barriers: 2 per round.
  const groups = 64;
  const rounds = Math.max(8, Math.round(512 * size));
  const bout = rt.ledger.alloc(groups * 64 * 4, 'workspace', 'ceiling barrier out');
  const timeBarrier = (barrier: boolean) =>
    timer.measure({ run: () => { rt.dispatch({ source: BARRIER_WGSL, constants: { WG: 64, BARRIER: barrier ? 1 : 0 }, label: 'ceiling barrier' }, [bout], params([['u32', rounds]]), [groups, 1, 1]); rt.flush(); } }, opts);
  const withB = await timeBarrier(true);
  const without = await timeBarrier(false);
  rt.ledger.free(bout);
  const barrierUs = Math.max(0, ((withB.ms - without.ms) * 1000) / (groups * rounds * 2));
  details.push({ what: `workgroup barrier (64 threads), ${groups} workgroups x ${2 * rounds}`, ms: withB.ms, rate: barrierUs, unit: 'µs per workgroup-barrier', method: withB.method });
  details.push({ what: 'same kernel without barriers', ms: without.ms, rate: (without.ms * 1000) / (groups * rounds * 2), unit: 'µs per round-half', method: without.method });
  return { gflops: bestFlops, gbps: bestCopy, copyBufferGbps, barrierUs, details };
}
