/**
 * Where ledger buffers really come from: the GPU, or nowhere (the meta device, for planning).
 * Both report failures the same way so the ledger's accounting is one code path.
 */
export type BufferUse = 'storage' | 'readback' | 'uniform';

export interface CreateFailure {
  kind: 'out-of-memory' | 'validation';
  message: string;
}

export interface Created {
  buffer: GPUBuffer | null;
  /** The failure the GPU reports for this creation, or null; known at once on the meta device. */
  failure: Promise<CreateFailure | null> | CreateFailure | null;
}

export interface BufferBackend {
  readonly isMeta: boolean;
  create(bytes: number, use: BufferUse, label: string): Created;
  destroy(buffer: GPUBuffer | null): void;
}

const USAGE: Record<BufferUse, number> = {
  // Numeric flags (GPUBufferUsage is a browser/Dawn global, absent on a bare meta run in Node).
  storage: 0x0080 | 0x0004 | 0x0008, // STORAGE | COPY_SRC | COPY_DST
  readback: 0x0001 | 0x0008, // MAP_READ | COPY_DST
  uniform: 0x0040 | 0x0008, // UNIFORM | COPY_DST
};

/** Creates real buffers inside error scopes so an OOM or a limit violation becomes data, not a console line. */
export class GpuBackend implements BufferBackend {
  readonly isMeta = false;
  constructor(private readonly device: GPUDevice) {}

  create(bytes: number, use: BufferUse, label: string): Created {
    const d = this.device;
    d.pushErrorScope('out-of-memory');
    d.pushErrorScope('validation');
    const buffer = d.createBuffer({ size: bytes, usage: USAGE[use], label });
    const validation = d.popErrorScope();
    const oom = d.popErrorScope();
    const failure = Promise.all([oom, validation]).then(([o, v]): CreateFailure | null =>
      o ? { kind: 'out-of-memory', message: o.message } : v ? { kind: 'validation', message: v.message } : null,
    );
    return { buffer, failure };
  }

  /**
   * Destruction waits for the next submit: recorded-but-unsubmitted commands may still use the buffer, and
   * a destroyed buffer in a submit is an error. After submit, destroy() is safe (the GPU finishes first).
   */
  destroy(buffer: GPUBuffer | null): void {
    if (buffer) this.doomed.push(buffer);
  }

  /** Called by the runtime right after each submit. */
  destroyDoomed(): void {
    for (const b of this.doomed) b.destroy();
    this.doomed = [];
  }

  private doomed: GPUBuffer[] = [];
}

/** Allocates nothing; refuses what the adapter would refuse, so a plan fails where the run would. */
export class MetaBackend implements BufferBackend {
  readonly isMeta = true;
  constructor(private readonly maxBufferSize = Number.MAX_SAFE_INTEGER) {}

  create(bytes: number): Created {
    const failure: CreateFailure | null =
      bytes > this.maxBufferSize ? { kind: 'validation', message: `size ${bytes} exceeds maxBufferSize ${this.maxBufferSize}` } : null;
    return { buffer: null, failure };
  }

  destroy(): void {}
}
