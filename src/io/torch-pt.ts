// PyTorch checkpoints as torch.save writes them (PyTorch >= 1.6): a zip with <archive>/data.pkl
// (the object tree), <archive>/data/<key> (one entry per storage), <archive>/version and, in
// newer releases, <archive>/byteorder. The pickle is read with an allow-list of exactly what a
// state_dict needs, the same list torch.load(weights_only=True) trusts.
import { byteSource, concatParts, type BinaryInput, type BlobBytes } from './byte-source.ts';
import { ITEM_SIZE, numelOf, writableTensors, type FileDType, type LoadedTensor, type NamedTensors } from './dtype.ts';
import { CheckpointFormatError, UnsafePickleError } from './errors.ts';
import { PyCallable, PyGlobal, PyPersistentId, PyReduce, pyTuple, pickle, unpickle } from './pickle.ts';
import { openZip, zipParts, type ZipEntry } from './zip.ts';

/** torch's legacy storage classes (still what torch.save names) and the element type of each. */
const STORAGE_DTYPES: Readonly<Record<string, FileDType>> = {
  DoubleStorage: 'F64', FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16',
  LongStorage: 'I64', IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8',
  ByteStorage: 'U8', BoolStorage: 'BOOL',
};
const STORAGE_CLASS = Object.fromEntries(Object.entries(STORAGE_DTYPES).map(([cls, d]) => [d, cls])) as Partial<Record<FileDType, string>>;

/** Tensors whose view (stride 0) is larger than its storage are capped here, so a hostile stride cannot demand unbounded memory. */
const MAX_BROADCAST_VIEW_BYTES = 16 * 1024 * 1024;

class StorageType extends PyGlobal {
  constructor(
    name: string,
    readonly dtype: FileDType,
  ) {
    super('torch', name);
  }
}

/** One storage entry of the archive, checked to hold exactly numel elements. */
export class TorchStorage {
  constructor(
    readonly key: string,
    readonly dtype: FileDType,
    readonly numel: number,
    readonly entry: ZipEntry,
  ) {}
}

/** A tensor as the pickle describes it: a strided view into a storage, read on demand. */
export class TorchTensorRef {
  constructor(
    readonly storage: TorchStorage,
    readonly storageOffset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
  get dtype(): FileDType {
    return this.storage.dtype;
  }
}

export interface TorchCheckpoint {
  /** The unpickled object: dicts are Maps, tensors are TorchTensorRefs. */
  root: unknown;
  /** root["state_dict"] when present (LatentSync), else root itself (a bare state_dict); tensors only. */
  stateDict: Map<string, TorchTensorRef>;
  /** root["global_step"] when it is an integer. */
  globalStep: number | undefined;
  /** A contiguous copy of the tensor's elements (a whole-tensor view of a storage is not copied). */
  readTensor(ref: TorchTensorRef): Promise<LoadedTensor>;
}

export interface OpenOptions {
  /** Check each storage's CRC-32 as it is read (default true; costs about a second per GB). */
  verifyCrc?: boolean;
}

const fail = (what: string): never => {
  throw new CheckpointFormatError('torch', `Not a loadable PyTorch checkpoint: ${what}. Re-save it with torch.save(state_dict), or export .safetensors.`);
};

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function rebuildTensor(args: readonly unknown[]): TorchTensorRef {
  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  const [storage, offset, size, stride] = args;
  if (args.length < 6 || args.length > 7) fail(`_rebuild_tensor_v2 got ${args.length} arguments`);
  if (!(storage instanceof TorchStorage)) fail('a tensor has no storage');
  const s = storage as TorchStorage;
  if (!isCount(offset)) fail('a tensor has an invalid storage offset');
  if (!Array.isArray(size) || !Array.isArray(stride) || size.length !== stride.length || !size.every(isCount) || !stride.every(isCount)) {
    fail(`a tensor has an invalid size ${String(size)} or stride ${String(stride)}`);
  }
  const shape = [...(size as number[])];
  const strides = [...(stride as number[])];
  const numel = numelOf(shape);
  if (numel > 0) {
    // The last element the view touches must lie inside the storage.
    let last = offset as number;
    for (let i = 0; i < shape.length; i++) last += (shape[i]! - 1) * strides[i]!;
    if (!(last < s.numel)) fail(`a tensor view [${shape.join(', ')}] at offset ${offset} reaches past its storage of ${s.numel} elements`);
    const bytes = numel * ITEM_SIZE[s.dtype];
    if (bytes > Math.max(s.entry.size, MAX_BROADCAST_VIEW_BYTES)) {
      fail(`a broadcast tensor view [${shape.join(', ')}] would need ${bytes} bytes from a ${s.entry.size}-byte storage`);
    }
  }
  return new TorchTensorRef(s, offset as number, shape, strides);
}

function orderedDict(args: readonly unknown[]): Map<unknown, unknown> {
  // OrderedDict() or OrderedDict([(key, value), ...])
  const d = new Map<unknown, unknown>();
  if (args.length > 1) fail('OrderedDict got more than one argument');
  if (args.length === 1) {
    if (!Array.isArray(args[0])) fail('OrderedDict got a non-list argument');
    for (const pair of args[0] as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2) fail('OrderedDict got an item that is not a pair');
      d.set((pair as unknown[])[0], (pair as unknown[])[1]);
    }
  }
  return d;
}

const ORDERED_DICT = new PyCallable('collections', 'OrderedDict', orderedDict);
const REBUILD_TENSOR = new PyCallable('torch._utils', '_rebuild_tensor_v2', rebuildTensor);
const REBUILD_PARAMETER = new PyCallable('torch._utils', '_rebuild_parameter', (args) => {
  // nn.Parameter(data, requires_grad, backward_hooks): the weights are the data.
  if (!(args[0] instanceof TorchTensorRef)) fail('a Parameter wraps something that is not a tensor');
  return args[0];
});
const ALLOWED = new Map<string, PyGlobal>([ORDERED_DICT, REBUILD_TENSOR, REBUILD_PARAMETER].map((g) => [g.qualname, g]));
for (const [cls, dtype] of Object.entries(STORAGE_DTYPES)) ALLOWED.set(`torch.${cls}`, new StorageType(cls, dtype));

/** Opens a checkpoint: reads the zip directory and the pickle; tensors are read on demand. */
export async function openTorchCheckpoint(input: BinaryInput, opts: OpenOptions = {}): Promise<TorchCheckpoint> {
  const src = byteSource(input);
  const zip = await openZip(src);
  // Like torch, take the archive's folder name from its first entry.
  const first = zip.entries.keys().next();
  const prefix = first.done ? '' : first.value.slice(0, first.value.indexOf('/') + 1);
  const pkl = zip.entries.get(`${prefix}data.pkl`);
  if (!prefix || !pkl) fail('the archive has no data.pkl beside its first entry (it is a zip, but not one torch.save wrote)');
  const byteorder = zip.entries.get(`${prefix}byteorder`);
  if (byteorder) {
    const order = new TextDecoder().decode(await zip.read(byteorder));
    if (order !== 'little') fail(`it was written on a ${order}-endian machine`);
  }

  const storages = new Map<string, TorchStorage>();
  const root = unpickle(await zip.read(pkl!), {
    global(module, name) {
      const g = ALLOWED.get(`${module}.${name}`);
      if (!g) throw new UnsafePickleError(`the Python global ${module}.${name}`, 'GLOBAL');
      return g;
    },
    persistentLoad(pid) {
      // ('storage', storage_type, key, location, numel)
      if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') fail('a persistent id is not a storage reference');
      const [, type, key, , numel] = pid as unknown[];
      if (type instanceof PyGlobal && !(type instanceof StorageType)) throw new UnsafePickleError(`${type.qualname} as a storage type`, 'persistent id');
      if (!(type instanceof StorageType)) fail('a storage reference names no storage type');
      if (typeof key !== 'string' || !isCount(numel)) fail('a storage reference has an invalid key or size');
      const known = storages.get(key as string);
      if (known) {
        if (known.dtype !== (type as StorageType).dtype || known.numel !== numel) fail(`storage ${key} is described two ways`);
        return known;
      }
      const entry = zip.entries.get(`${prefix}data/${key}`);
      if (!entry) fail(`storage ${key} is missing from the archive`);
      const dtype = (type as StorageType).dtype;
      if (entry!.size !== (numel as number) * ITEM_SIZE[dtype]) fail(`storage ${key} holds ${entry!.size} bytes, not ${numel} ${dtype} elements`);
      const s = new TorchStorage(key as string, dtype, numel as number, entry!);
      storages.set(s.key, s);
      return s;
    },
  });

  const top = root instanceof Map ? root : undefined;
  const sd = top?.get('state_dict') instanceof Map ? (top.get('state_dict') as Map<unknown, unknown>) : top;
  if (!sd) fail('it holds no dict of tensors (state_dict)');
  const stateDict = new Map<string, TorchTensorRef>();
  for (const [k, v] of sd!) if (typeof k === 'string' && v instanceof TorchTensorRef) stateDict.set(k, v);
  const step = top?.get('global_step');

  return {
    root,
    stateDict,
    globalStep: isCount(step) ? step : undefined,
    async readTensor(ref) {
      const bytes = await zip.read(ref.storage.entry, opts.verifyCrc ?? true);
      return { dtype: ref.dtype, shape: [...ref.shape], data: gather(bytes, ref) };
    },
  };
}

/** The view's elements in row-major order, from the bytes of its whole storage. */
function gather(storage: Uint8Array, t: TorchTensorRef): Uint8Array {
  const k = ITEM_SIZE[t.dtype];
  const numel = numelOf(t.shape);
  const n = t.shape.length;
  let contiguous = true;
  for (let i = n - 1, expect = 1; i >= 0; expect *= t.shape[i]!, i--) if (t.shape[i] !== 1 && t.stride[i] !== expect) contiguous = false;
  if (contiguous || numel === 0) {
    const begin = t.storageOffset * k;
    const end = begin + numel * k;
    return begin === 0 && end === storage.byteLength ? storage : storage.slice(begin, end);
  }
  // Walk the outer indices like an odometer; the innermost dimension is copied as a run when its
  // stride is 1, element by element otherwise.
  const out = new Uint8Array(numel * k);
  const inner = t.shape[n - 1]!;
  const innerStride = t.stride[n - 1]! * k;
  const idx = new Array<number>(n - 1).fill(0);
  let at = 0;
  for (let row = 0, rows = numel / inner; row < rows; row++) {
    let src = t.storageOffset * k;
    for (let d = 0; d < n - 1; d++) src += idx[d]! * t.stride[d]! * k;
    if (innerStride === k) {
      out.set(storage.subarray(src, src + inner * k), at);
      at += inner * k;
    } else {
      for (let j = 0; j < inner; j++, src += innerStride) for (let b = 0; b < k; b++) out[at++] = storage[src + b]!;
    }
    for (let d = n - 2; d >= 0 && ++idx[d]! === t.shape[d]; d--) idx[d] = 0;
  }
  return out;
}

/** Reads every tensor of the state_dict into memory (convenient for small checkpoints). */
export async function readTorchCheckpoint(input: BinaryInput, opts?: OpenOptions): Promise<{ globalStep: number | undefined; tensors: Map<string, LoadedTensor> }> {
  const ckpt = await openTorchCheckpoint(input, opts);
  const tensors = new Map<string, LoadedTensor>();
  for (const [name, ref] of ckpt.stateDict) tensors.set(name, await ckpt.readTensor(ref));
  return { globalStep: ckpt.globalStep, tensors };
}

export interface TorchCheckpointInput {
  globalStep: number;
  stateDict: NamedTensors;
}

/**
 * LatentSync's format, torch.save({"global_step": step, "state_dict": OrderedDict(name -> tensor)}),
 * as parts for `new Blob(parts)` (tensor bytes are not copied). torch.load(weights_only=True) opens it.
 */
export function torchCheckpointParts(ckpt: TorchCheckpointInput, opts: { archiveName?: string; forceZip64?: boolean } = {}): BlobBytes[] {
  if (!Number.isSafeInteger(ckpt.globalStep)) throw new RangeError(`globalStep ${ckpt.globalStep} is not an integer.`);
  const archive = opts.archiveName ?? 'archive';
  const sd = new Map<string, PyReduce>();
  const storages: { name: string; data: BlobBytes }[] = [];
  for (const [name, t, bytes] of writableTensors(ckpt.stateDict)) {
    const cls = STORAGE_CLASS[t.dtype];
    if (!cls) throw new RangeError(`Tensor "${name}" has dtype ${t.dtype}, which PyTorch has no storage for.`);
    const key = String(storages.length);
    const numel = numelOf(t.shape);
    const stride = t.shape.map((_, i) => numelOf(t.shape.slice(i + 1)));
    const pid = pyTuple('storage', new PyGlobal('torch', cls), key, 'cpu', numel);
    const hooks = new PyReduce(ORDERED_DICT, []);
    sd.set(name, new PyReduce(REBUILD_TENSOR, [new PyPersistentId(pid), 0, pyTuple(...t.shape), pyTuple(...stride), false, hooks]));
    storages.push({ name: `${archive}/data/${key}`, data: bytes });
  }
  const root = new Map<string, unknown>([
    ['global_step', ckpt.globalStep],
    ['state_dict', new PyReduce(ORDERED_DICT, [], sd)],
  ]);
  const text = (s: string): BlobBytes => new TextEncoder().encode(s);
  return zipParts(
    [
      { name: `${archive}/data.pkl`, data: pickle(root) },
      { name: `${archive}/byteorder`, data: text('little') },
      ...storages,
      { name: `${archive}/version`, data: text('3\n') },
    ],
    { align: 64, forceZip64: opts.forceZip64 },
  );
}

export function writeTorchCheckpoint(ckpt: TorchCheckpointInput, opts?: { archiveName?: string; forceZip64?: boolean }): BlobBytes {
  return concatParts(torchCheckpointParts(ckpt, opts));
}
