/**
 * Pipelines, compiled once per (source, entry point, specialization constants), and the workgroup grid
 * helper that folds a 1-D workgroup count past maxComputeWorkgroupsPerDimension into 2-D.
 *
 * A kernel dispatched with grid(n) recovers its flat workgroup index as
 *   let wg = wid.x + wid.y * nwg.x;   // wid: @builtin(workgroup_id), nwg: @builtin(num_workgroups)
 * and returns early when wg >= n (the folded grid can have a few spare workgroups).
 */
export interface KernelSpec {
  /** Complete WGSL source. */
  source: string;
  entryPoint?: string;
  /** Values for the shader's `override` declarations. */
  constants?: Record<string, number>;
  /** For error messages and GPU debuggers. */
  label?: string;
}

export class KernelCache {
  private pipelines = new Map<string, Map<string, GPUComputePipeline>>();
  compiled = 0;

  private constructor(private readonly device: GPUDevice) {}

  /** One cache per device: every runtime on a device shares its compiled pipelines. */
  static of(device: GPUDevice): KernelCache {
    let c = caches.get(device);
    if (!c) caches.set(device, (c = new KernelCache(device)));
    return c;
  }

  pipeline(spec: KernelSpec): GPUComputePipeline {
    const entryPoint = spec.entryPoint ?? 'main';
    const constKey = `${entryPoint}|${spec.constants ? JSON.stringify(Object.entries(spec.constants).sort()) : ''}`;
    let bySource = this.pipelines.get(spec.source);
    if (!bySource) this.pipelines.set(spec.source, (bySource = new Map()));
    let p = bySource.get(constKey);
    if (!p) {
      const module = this.device.createShaderModule({ code: spec.source, label: spec.label });
      p = this.device.createComputePipeline({
        layout: 'auto',
        label: spec.label,
        compute: { module, entryPoint, constants: spec.constants },
      });
      bySource.set(constKey, p);
      this.compiled++;
    }
    return p;
  }
}

const caches = new WeakMap<GPUDevice, KernelCache>();

/** Workgroup counts for `count` workgroups, folded so that no dimension passes `maxPerDim`. */
export function grid(count: number, maxPerDim: number): [number, number, number] {
  if (!(count >= 1)) return [0, 1, 1];
  if (count <= maxPerDim) return [count, 1, 1];
  const y = Math.ceil(count / maxPerDim);
  if (y > maxPerDim) throw new RangeError(`dispatch of ${count} workgroups exceeds ${maxPerDim}² even when folded`);
  return [Math.ceil(count / y), y, 1];
}
