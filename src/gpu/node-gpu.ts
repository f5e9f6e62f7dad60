/**
 * Dawn in Node (the `webgpu` package). Kept out of every browser import path: only the CLI, the tests and
 * the benchmarks import this file. VK_ICD_FILENAMES picks the Vulkan driver; when none is set and the
 * system has no usable one, we fall back to SwiftShader (the CPU driver in Debian's chromium package).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { acquireDevice, type AcquireOptions, type GpuContext } from './device.ts';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

const liveInstances: GPU[] = [];

/**
 * Workgroup memory stays zero-initialized (WGSL semantics), but by Tint's loop rather than the Vulkan
 * extension: SwiftShader implements VK_KHR_zero_initialize_workgroup_memory with code that grows with the
 * array size, so a kernel with 16 KiB of workgroup tiles took ~10 s to compile instead of ~0.3 s.
 */
const DAWN_FLAGS = ['disable-dawn-features=use_vulkan_zero_initialize_workgroup_memory_extension'];

export async function nodeGpu(): Promise<GPU> {
  const { create, globals } = await import('webgpu');
  // Dawn's constructors (GPUBufferUsage, GPUMapMode, ...) become globals as in a browser.
  Object.assign(globalThis, globals);
  // Dawn tears the instance down when this object is collected, taking its devices with it: keep it.
  const gpu = create(DAWN_FLAGS);
  liveInstances.push(gpu);
  return gpu;
}

export async function acquireNodeDevice(opts?: AcquireOptions): Promise<GpuContext> {
  if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD) && !systemHasAdapter()) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  return acquireDevice(await nodeGpu(), opts);
}

/**
 * Asks, in a child process, whether the system's Vulkan drivers give Dawn an adapter. A child, because Dawn
 * reads the driver list once per process and a failed instance cannot be retried in the same one.
 */
function systemHasAdapter(): boolean {
  const probe = `import('webgpu').then(async ({ create }) => { const a = await create([]).requestAdapter(); process.stdout.write(a ? 'yes' : 'no'); process.exit(0); })`;
  const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: 30_000 });
  return r.stdout.trim() === 'yes';
}
