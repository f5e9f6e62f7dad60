import { acquireDevice, unlessLost, type AcquireOptions, type DeviceLimits, type GpuContext } from './device.ts';
import { grid, KernelCache, type KernelSpec } from './kernel.ts';
import { GpuBackend, MetaBackend } from './memory/backend.ts';
import { MemoryLedger, type LedgerBuffer, type LedgerOptions } from './memory/ledger.ts';

/** A binding: a whole ledger buffer, or a byte range of one (for chunked access to large tensors). */
export type Binding = LedgerBuffer | { buffer: LedgerBuffer; offset: number; size: number };

const UNIFORM_ALIGN = 256;
const MAX_DISPATCHES_PER_SUBMIT = 256;

/**
 * The engine's handle on a GPU, or on the meta device (no GPU: allocations are only recorded, dispatches
 * do nothing). Dispatches are recorded into one compute pass and submitted in batches; each dispatch's
 * small uniform block lives in a per-batch arena, written once at submit.
 */
export class GpuRuntime {
  readonly kernels: KernelCache | null;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatchesInPass = 0;
  private readonly uniformArena: LedgerBuffer;
  private uniformBytes: Uint8Array;
  private uniformUsed = 0;
  dispatches = 0;
  submits = 0;

  private constructor(
    readonly ctx: GpuContext | null,
    readonly limits: DeviceLimits,
    readonly ledger: MemoryLedger,
  ) {
    this.kernels = ctx ? KernelCache.of(ctx.device) : null;
    this.uniformBytes = new Uint8Array(Math.min(limits.maxUniformBufferBindingSize, MAX_DISPATCHES_PER_SUBMIT * UNIFORM_ALIGN));
    // Allocated up front on the meta device too, so planned and measured peaks agree.
    this.uniformArena = ledger.alloc(this.uniformBytes.byteLength, 'workspace', 'uniform arena', 'uniform');
    ctx?.lost.then((e) => ledger.markLost(e));
  }

  /** Bytes the runtime itself holds for as long as it lives (the uniform arena); a plan counts them too. */
  get ownBytes(): number {
    return this.uniformArena.bytes;
  }

  static forDevice(ctx: GpuContext, ledgerOpts: LedgerOptions = {}): GpuRuntime {
    return new GpuRuntime(ctx, { ...ctx.report.limits }, new MemoryLedger(new GpuBackend(ctx.device), ledgerOpts));
  }

  static async acquire(gpu: GPU | undefined, opts: AcquireOptions & LedgerOptions = {}): Promise<GpuRuntime> {
    return GpuRuntime.forDevice(await acquireDevice(gpu, opts), opts);
  }

  /** The planner's device: same limits, same ledger rules, no memory and no work. */
  static meta(limits: DeviceLimits, ledgerOpts: LedgerOptions = {}): GpuRuntime {
    return new GpuRuntime(null, { ...limits }, new MemoryLedger(new MetaBackend(limits.maxBufferSize), ledgerOpts));
  }

  get isMeta(): boolean {
    return this.ctx === null;
  }

  get device(): GPUDevice {
    if (!this.ctx) throw new Error('the meta device has no GPUDevice');
    return this.ctx.device;
  }

  /**
   * Records one kernel launch of `workgroups` workgroups (folded to 2-D past the per-dimension limit; see
   * kernel.ts). Bindings go to @group(0) @binding(0..n-1) in order; `uniforms`, when given, to binding n.
   */
  dispatch(spec: KernelSpec, bindings: Binding[], uniforms: ArrayBufferView | null, workgroups: number | [number, number, number]): void {
    if (!this.ctx) return;
    const [x, y, z] = typeof workgroups === 'number' ? grid(workgroups, this.limits.maxComputeWorkgroupsPerDimension) : workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    if (uniforms && this.uniformUsed + uniforms.byteLength > this.uniformBytes.byteLength) this.flush();
    if (this.dispatchesInPass >= MAX_DISPATCHES_PER_SUBMIT) this.flush();
    const pipeline = this.kernels!.pipeline(spec);
    const entries: GPUBindGroupEntry[] = bindings.map((b, i) =>
      'buffer' in b ? { binding: i, resource: { buffer: b.buffer.gpu, offset: b.offset, size: b.size } } : { binding: i, resource: { buffer: b.gpu } },
    );
    if (uniforms) {
      const offset = this.uniformUsed;
      this.uniformBytes.set(new Uint8Array(uniforms.buffer, uniforms.byteOffset, uniforms.byteLength), offset);
      this.uniformUsed += Math.ceil(uniforms.byteLength / UNIFORM_ALIGN) * UNIFORM_ALIGN;
      entries.push({ binding: bindings.length, resource: { buffer: this.uniformArena.gpu, offset, size: uniforms.byteLength } });
    }
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const pass = this.openPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.dispatchesInPass++;
    this.dispatches++;
  }

  /** Copies host data into a buffer. Pending work is submitted first: writeBuffer would otherwise overtake it. */
  upload(dst: LedgerBuffer, data: ArrayBufferView, dstOffset = 0): void {
    if (!this.ctx) return;
    if (data.byteLength + dstOffset > dst.bytes) throw new RangeError(`upload of ${data.byteLength} bytes into "${dst.label}" (${dst.bytes} bytes) at ${dstOffset}`);
    this.flush();
    this.device.queue.writeBuffer(dst.gpu, dstOffset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Buffer-to-buffer copy, recorded in order with the dispatches. */
  copy(src: LedgerBuffer, srcOffset: number, dst: LedgerBuffer, dstOffset: number, bytes: number): void {
    if (!this.ctx) return;
    this.closePass();
    this.commandEncoder().copyBufferToBuffer(src.gpu, srcOffset, dst.gpu, dstOffset, bytes);
  }

  /** Reads `bytes` of a buffer back to the host (see readMany). */
  async read(src: LedgerBuffer, bytes = src.requested, srcOffset = 0): Promise<ArrayBuffer> {
    return (await this.readMany([{ buffer: src, bytes, offset: srcOffset }]))[0];
  }

  /**
   * Reads several buffer ranges back with one staging buffer and one map: one GPU round trip per training
   * step, whatever it logs. On the meta device the staging buffer is still accounted for (same peaks as a
   * real run) and the data read is zeros.
   */
  async readMany(ranges: { buffer: LedgerBuffer; bytes?: number; offset?: number }[]): Promise<ArrayBuffer[]> {
    const sizes = ranges.map((r) => Math.ceil((r.bytes ?? r.buffer.requested) / 4) * 4);
    const total = sizes.reduce((a, b) => a + b, 0);
    const staging = this.ledger.alloc(Math.max(4, total), 'staging', `read ${ranges.map((r) => r.buffer.label).join(', ')}`, 'readback');
    try {
      if (!this.ctx) return ranges.map((r) => new ArrayBuffer(r.bytes ?? r.buffer.requested));
      let at = 0;
      ranges.forEach((r, i) => {
        this.copy(r.buffer, r.offset ?? 0, staging, at, sizes[i]);
        at += sizes[i];
      });
      this.flush();
      await unlessLost(this.ctx, staging.gpu.mapAsync(1 /* GPUMapMode.READ */, 0, total));
      const mapped = staging.gpu.getMappedRange(0, total);
      at = 0;
      const out = ranges.map((r, i) => {
        const o = mapped.slice(at, at + (r.bytes ?? r.buffer.requested));
        at += sizes[i];
        return o;
      });
      staging.gpu.unmap();
      return out;
    } finally {
      this.ledger.free(staging);
    }
  }

  /** Submits everything recorded so far, then destroys buffers freed while it was being recorded. */
  flush(): void {
    const backend = this.ledger.backend;
    if (!this.encoder) {
      if (backend instanceof GpuBackend) backend.destroyDoomed();
      return;
    }
    this.closePass();
    if (this.uniformUsed > 0) this.device.queue.writeBuffer(this.uniformArena.gpu, 0, this.uniformBytes.buffer, 0, this.uniformUsed);
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.uniformUsed = 0;
    this.dispatchesInPass = 0;
    this.submits++;
    if (backend instanceof GpuBackend) backend.destroyDoomed();
  }

  /** Submits and waits until the GPU has finished all of it (and the ledger knows of any refused buffer). */
  async sync(): Promise<void> {
    if (this.ctx) {
      this.flush();
      await unlessLost(this.ctx, this.device.queue.onSubmittedWorkDone());
    }
    await this.ledger.settle();
  }

  destroy(): void {
    this.encoder = null;
    this.pass = null;
    this.ctx?.device.destroy();
  }

  private commandEncoder(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  private openPass(): GPUComputePassEncoder {
    return (this.pass ??= this.commandEncoder().beginComputePass());
  }

  private closePass(): void {
    this.pass?.end();
    this.pass = null;
  }
}
