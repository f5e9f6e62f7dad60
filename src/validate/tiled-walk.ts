import type { GpuRuntime } from '../gpu/runtime.ts';
import type { Conv2d } from '../nn/layers/conv2d.ts';
import { add, conv2d, silu } from '../nn/ops.ts';
import { scope } from '../tensor/scope.ts';
import { noGrad } from '../tensor/tape.ts';
import { Tensor } from '../tensor/tensor.ts';
import type { GroupStats } from './group-stats.ts';
import { StagedActivation } from './staged-activation.ts';
import { normalizeTile } from './tile-kernels.ts';
import { TileMomentsCollector } from './tile-moments.ts';
import { convInputWindow, padding4, tileGrid, wholeRect, type Rect } from './tiles.ts';
import type { ConvStep, Step, StepGraph } from './vae-steps.ts';

/**
 * Where intermediate maps live: all on the GPU (as the tiles that wrote them), all in host memory, or on the
 * GPU while the maps kept there stay under `gpuBytes` (the rest in host memory).
 */
export type Staging = 'gpu' | 'host' | { gpuBytes: number };

export interface WalkOptions {
  /** Tile edge in pixels of each map's own resolution (maps no larger run whole). */
  tile: number;
  staging: Staging;
}

export interface WalkCounts {
  tiles: number;
  hostMaps: number;
  gpuMaps: number;
}

/** y = f(x), then x is freed: keeps a tile's peak at the largest input + output of one op. */
function consume(x: Tensor, f: (t: Tensor) => Tensor): Tensor {
  const y = f(x);
  if (y !== x) x.dispose();
  return y;
}

/** A conv module's weights with the padding this tile needs. */
const convWith = (c: Conv2d, padding: readonly [number, number, number, number]) => (x: Tensor) =>
  conv2d(x, c.weight.t, c.bias?.t ?? null, { stride: c.stride, padding });

const NO_PADDING = [0, 0, 0, 0] as const;

/** One output tile of a conv step: everything between the fetched input region and the stored tile. */
function convTile(step: ConvStep, maps: StagedActivation[], rect: Rect, stats: Tensor | null): Tensor {
  const src = maps[step.input];
  const [, , h, w] = src.shape;
  const g = { kernel: step.conv.kernelSize, stride: step.conv.stride, padding: padding4(step.conv.padding) };
  const { rect: region, padding } = convInputWindow(rect, g, h * step.up, w * step.up);
  let x = src.fetch(region, step.up);
  const norm = step.norm;
  if (norm) {
    x = consume(x, (t) => normalizeTile(t, norm.weight.t, norm.bias.t, stats!, norm.groups, norm.eps));
    x = consume(x, (t) => silu(t));
  }
  for (const c of step.pre) x = consume(x, convWith(c, NO_PADDING));
  let y = consume(x, convWith(step.conv, padding));
  for (const c of step.post) y = consume(y, convWith(c, NO_PADDING));
  const res = step.residual;
  if (res) {
    let r = maps[res.input].fetch(rect);
    if (res.shortcut) r = consume(r, convWith(res.shortcut, NO_PADDING));
    const sum = add(r, y);
    r.dispose();
    y.dispose();
    y = sum;
  }
  return y;
}

function tileOf(step: Step, maps: StagedActivation[], rect: Rect, stats: Tensor | null): Tensor {
  if (step.kind === 'conv') return convTile(step, maps, rect, stats);
  return step.run(() => maps[step.input].fetch(rect));
}

/**
 * Runs a step graph over one chunk of images, map by map and tile by tile: `input` is map 0, `output` takes
 * the last map. A map that a GroupNorm reads reports per-tile moments while it is written; its statistics
 * are complete (all tiles) before the step that normalizes it starts. Each map is freed after its last use.
 */
export async function walk(rt: GpuRuntime, graph: StepGraph, input: StagedActivation, output: StagedActivation, opts: WalkOptions): Promise<WalkCounts> {
  const n = input.shape[0];
  const last = graph.maps.length - 1;
  const maps: StagedActivation[] = [input];
  const lastUse = new Array<number>(graph.maps.length).fill(-1);
  graph.steps.forEach((s, i) => {
    lastUse[s.input] = i;
    if (s.kind === 'conv' && s.residual) lastUse[s.residual.input] = i;
  });
  const stats = new Map<number, GroupStats>();
  const counts: WalkCounts = { tiles: 0, hostMaps: 0, gpuMaps: 0 };
  let gpuResident = 0;
  const owned = new Set<StagedActivation>();
  const release = (m: number) => {
    const act = maps[m];
    if (!owned.has(act)) return;
    owned.delete(act);
    stats.delete(m);
    if (act.onGpuSide) gpuResident -= act.bytes;
    act.dispose();
  };

  try {
    for (const [i, step] of graph.steps.entries()) {
      const info = graph.maps[step.output];
      const shape = [n, info.channels, info.h, info.w] as const;
      let out = output;
      if (step.output !== last) {
        const bytes = shape.reduce((a, b) => a * b, 4);
        const s = opts.staging;
        const gpu = s === 'gpu' || (s !== 'host' && gpuResident + bytes <= s.gpuBytes);
        out = gpu ? StagedActivation.onGpu(rt, shape, step.label) : StagedActivation.onHost(rt, shape, step.label);
        owned.add(out);
        if (gpu) (gpuResident += bytes, counts.gpuMaps++);
        else counts.hostMaps++;
      }
      maps[step.output] = out;

      const rects = step.kind === 'whole' ? [wholeRect(info.h, info.w)] : tileGrid(info.h, info.w, opts.tile);
      const collector = info.statsGroups ? new TileMomentsCollector(rt, n, info.channels, info.statsGroups, rects) : null;
      let normStats: Tensor | null = null;
      try {
        if (step.kind === 'conv' && step.norm) {
          const meanVar = stats.get(step.input)!.meanVariance();
          normStats = Tensor.fromArray(rt, meanVar, [meanVar.length / 2, 2], 'f32', 'validation', `${step.label} norm stats`);
        }
        for (const [k, rect] of rects.entries()) {
          const tile = noGrad(() =>
            scope(() => {
              const t = tileOf(step, maps, rect, normStats);
              collector?.add(t, k);
              return t;
            }),
          );
          await out.store(rect, tile);
          counts.tiles++;
        }
        if (collector) stats.set(step.output, await collector.finish());
      } catch (e) {
        collector?.dispose();
        throw e;
      } finally {
        normStats?.dispose();
      }
      for (const m of new Set([step.input, step.kind === 'conv' && step.residual ? step.residual.input : step.input])) if (lastUse[m] === i) release(m);
    }
  } finally {
    for (const act of owned) act.dispose();
  }
  return counts;
}
