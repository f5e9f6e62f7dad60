import { DeviceLostError } from './errors.ts';

/** The limits that shape our kernels and buffers; requested at the adapter's maximum. */
export const WANTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupsPerDimension',
  'maxUniformBufferBindingSize',
  'maxBindGroups',
] as const;
export type LimitName = (typeof WANTED_LIMITS)[number];
export type DeviceLimits = Record<LimitName, number>;

const WANTED_FEATURES = ['shader-f16', 'timestamp-query', 'subgroups'] as const;

export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** e.g. "swiftshader"; what benchmarks put in their file names. */
  name: string;
  isFallbackAdapter: boolean;
  limits: DeviceLimits;
  adapterLimits: DeviceLimits;
  features: string[];
}

export interface GpuContext {
  device: GPUDevice;
  report: AdapterReport;
  /** Resolves when the device is lost; never rejects. */
  lost: Promise<DeviceLostError>;
  /** Set once the device is lost. */
  lostError: DeviceLostError | null;
}

export interface AcquireOptions {
  powerPreference?: GPUPowerPreference;
  /** Lower some limits on purpose, e.g. to test chunked bindings with a small maxStorageBufferBindingSize. */
  limitOverrides?: Partial<DeviceLimits>;
}

/** Gets an adapter and a device with the adapter's maximum limits, from any GPU object (page, worker, Dawn). */
export async function acquireDevice(gpu: GPU | undefined, opts: AcquireOptions = {}): Promise<GpuContext> {
  if (!gpu) throw new Error('WebGPU is not available here. Use a recent Chrome or Edge (or enable WebGPU in your browser flags).');
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) throw new Error('No WebGPU adapter was found. Check that hardware acceleration is on, or try another browser.');
  const adapterLimits = readLimits(adapter.limits);
  const requiredLimits: Record<string, number> = { ...adapterLimits };
  for (const [k, v] of Object.entries(opts.limitOverrides ?? {})) if (v !== undefined) requiredLimits[k] = Math.min(v, requiredLimits[k]);
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'latent-lab' });
  const info = adapter.info;
  const ctx: GpuContext = {
    device,
    lostError: null,
    lost: device.lost.then((l) => {
      ctx.lostError = new DeviceLostError(l.reason ?? 'unknown', l.message);
      return ctx.lostError;
    }),
    report: {
      vendor: info?.vendor ?? '',
      architecture: info?.architecture ?? '',
      device: info?.device ?? '',
      description: info?.description ?? '',
      name: adapterName(info),
      isFallbackAdapter: Boolean((info as { isFallbackAdapter?: boolean })?.isFallbackAdapter),
      limits: readLimits(device.limits),
      adapterLimits,
      features: [...device.features].sort(),
    },
  };
  return ctx;
}

function readLimits(l: GPUSupportedLimits): DeviceLimits {
  return Object.fromEntries(WANTED_LIMITS.map((k) => [k, Number(l[k])])) as DeviceLimits;
}

function adapterName(info: GPUAdapterInfo | undefined): string {
  const raw = [info?.vendor, info?.architecture, info?.device].filter(Boolean).join('-') || info?.description || 'unknown';
  return raw.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'unknown';
}

/** Rejects with the loss error if the device dies before `p` settles, so nothing waits forever on a dead device. */
export function unlessLost<T>(ctx: Pick<GpuContext, 'lost'>, p: Promise<T>): Promise<T> {
  return Promise.race([p, ctx.lost.then((e) => Promise.reject(e))]);
}
