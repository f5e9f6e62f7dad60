import { f16ToF32Array, f32ToF16Array } from '../io/dtype.ts';
import type { Category } from '../gpu/memory/categories.ts';
import type { LedgerBuffer } from '../gpu/memory/ledger.ts';
import type { GpuRuntime } from '../gpu/runtime.ts';
import { numelOf, storageBytes, type DType } from './dtype.ts';
import { track } from './scope.ts';

/** A ledger buffer shared by tensor handles (views, saved copies); freed when the last handle lets go. */
export class Storage {
  refs = 0;
  constructor(
    readonly rt: GpuRuntime,
    readonly buffer: LedgerBuffer,
  ) {}

  release(): void {
    if (--this.refs === 0) this.rt.ledger.free(this.buffer);
  }
}

let nextId = 1;

/**
 * A handle on GPU data: shape, storage dtype and a shared Storage. Handles are cheap; each holds one
 * reference to its storage and gives it back on dispose() (see scope.ts for who disposes what).
 */
export class Tensor {
  readonly id = nextId++;
  readonly numel: number;
  /** Gradient accumulated by backward() for a leaf that requires grad (category 'grads'). */
  grad: Tensor | null = null;
  requiresGrad = false;
  /** False for outputs of recorded ops; true for parameters and inputs. */
  isLeaf = true;
  private _disposed = false;

  constructor(
    readonly storage: Storage,
    readonly shape: readonly number[],
    readonly dtype: DType,
  ) {
    this.numel = numelOf(shape);
    if (storageBytes(this.numel, dtype) > storage.buffer.bytes) throw new RangeError(`tensor [${shape}] ${dtype} does not fit its ${storage.buffer.bytes}-byte buffer`);
    storage.refs++;
    track(this);
  }

  /** Uninitialized tensor: a fresh ledger buffer. */
  static empty(rt: GpuRuntime, shape: readonly number[], dtype: DType = 'f32', category: Category = 'activations', label = 'tensor'): Tensor {
    const bytes = Math.max(4, storageBytes(numelOf(shape), dtype));
    return new Tensor(new Storage(rt, rt.ledger.alloc(bytes, category, label)), shape, dtype);
  }

  /** Uploads host values (f32; converted to packed halves for f16 storage). */
  static fromArray(rt: GpuRuntime, data: ArrayLike<number>, shape: readonly number[], dtype: DType = 'f32', category: Category = 'data', label = 'tensor'): Tensor {
    const n = numelOf(shape);
    if (data.length !== n) throw new RangeError(`${label}: ${data.length} values for shape [${shape}] (${n} elements)`);
    const t = Tensor.empty(rt, shape, dtype, category, label);
    const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
    if (dtype === 'f32') rt.upload(t.buffer, f32);
    else {
      const halves = f32ToF16Array(f32);
      const words = new Uint16Array(Math.ceil(n / 2) * 2);
      words.set(halves);
      rt.upload(t.buffer, words);
    }
    return t;
  }

  get rt(): GpuRuntime {
    return this.storage.rt;
  }

  get buffer(): LedgerBuffer {
    if (this._disposed) throw new Error(`tensor #${this.id} [${this.shape}] was used after dispose()`);
    return this.storage.buffer;
  }

  get bytes(): number {
    return storageBytes(this.numel, this.dtype);
  }

  get disposed(): boolean {
    return this._disposed;
  }

  /** Another handle on the same storage (a view when the shape differs; same element count). */
  alias(shape: readonly number[] = this.shape): Tensor {
    if (numelOf(shape) !== this.numel) throw new RangeError(`cannot view [${this.shape}] as [${shape}]`);
    return new Tensor(this.storage, shape, this.dtype);
  }

  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    this.storage.release();
  }

  /** Reads the values back as f32 (unpacking f16 storage on the host). */
  async toArray(): Promise<Float32Array> {
    return (await Tensor.readAll([this]))[0];
  }

  /** Reads several tensors in one GPU round trip. */
  static async readAll(tensors: Tensor[]): Promise<Float32Array[]> {
    if (!tensors.length) return [];
    const raw = await tensors[0].rt.readMany(tensors.map((t) => ({ buffer: t.buffer, bytes: t.bytes })));
    return raw.map((r, i) => (tensors[i].dtype === 'f32' ? new Float32Array(r) : f16ToF32Array(new Uint16Array(r, 0, tensors[i].numel))));
  }

  toString(): string {
    return `Tensor#${this.id}[${this.shape.join(', ')}] ${this.dtype}`;
  }
}
