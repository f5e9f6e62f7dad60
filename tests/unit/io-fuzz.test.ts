// Hostile files: a seeded PRNG mutates valid .safetensors and .pt files (bit flips, truncation,
// rewritten header fields, huge sizes and shapes, overlapping ranges, corrupted zip records,
// mutated and hostile pickles). Every case must end in a full, consistent load or in a
// CheckpointFormatError: never another exception (a RangeError would mean an unchecked read),
// never a slow case.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { byteSource, concatParts } from '../../src/io/byte-source.ts';
import { ITEM_SIZE, f32ToF16Array, numelOf, toStorage, type LoadedTensor, type TensorData } from '../../src/io/dtype.ts';
import { CheckpointFormatError } from '../../src/io/errors.ts';
import { PyGlobal, PyPersistentId, PyReduce, pickle, pyTuple } from '../../src/io/pickle.ts';
import { openSafetensors, readSafetensors, writeSafetensors } from '../../src/io/safetensors.ts';
import { openTorchCheckpoint, writeTorchCheckpoint } from '../../src/io/torch-pt.ts';
import { openZip, zipParts, type ZipInputFile } from '../../src/io/zip.ts';

/** mulberry32: small, fast, and the same sequence everywhere. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
const rand = prng(0x5eed);
const int = (n: number): number => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

const SLOW_CASE_MS = 500;

/** Runs one case; returns 'ok' or 'refused', or a description of what went wrong. */
async function runCase(what: string, load: () => Promise<void>, failures: string[]): Promise<'ok' | 'refused' | 'failed'> {
  const t0 = performance.now();
  try {
    await load();
    return 'ok';
  } catch (e) {
    if (e instanceof CheckpointFormatError) return 'refused';
    failures.push(`${what}: ${(e as Error)?.name}: ${(e as Error)?.message}`);
    return 'failed';
  } finally {
    const ms = performance.now() - t0;
    if (ms > SLOW_CASE_MS) failures.push(`${what}: took ${ms.toFixed(0)} ms`);
  }
}

/** A loaded tensor must hold exactly its shape's bytes, and float ones must convert. */
function checkTensor(t: LoadedTensor): void {
  if (t.data.byteLength !== numelOf(t.shape) * ITEM_SIZE[t.dtype]) throw new Error(`tensor bytes ${t.data.byteLength} do not match shape ${t.shape}`);
  if (t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16') {
    if (toStorage(t, 'f32').length !== numelOf(t.shape) || toStorage(t, 'f16').length !== numelOf(t.shape)) throw new Error('bad conversion');
  }
}

function flipBytes(b: Uint8Array<ArrayBuffer>, count: number, from = 0, to = b.byteLength): Uint8Array<ArrayBuffer> {
  const out = b.slice();
  for (let i = 0; i < count; i++) out[from + int(to - from)]! ^= 1 << int(8);
  return out;
}

const f32 = Float32Array.from({ length: 48 }, (_, i) => i / 7 - 3);
const BASE_TENSORS: [string, TensorData][] = [
  ['a.weight', { dtype: 'F32', shape: [4, 3, 2, 2], data: f32 }],
  ['a.half', { dtype: 'F16', shape: [6, 8], data: f32ToF16Array(f32) }],
  ['a.bf16', { dtype: 'BF16', shape: [2, 2], data: new Uint16Array([0x3f80, 0x4000, 0xc000, 0x0001]) }],
  ['ids', { dtype: 'I64', shape: [1, 3], data: new BigInt64Array([0n, 1n, 2n]) }],
  ['scalar', { dtype: 'F32', shape: [], data: new Float32Array([1]) }],
];

describe('hostile .safetensors', () => {
  const base = writeSafetensors(BASE_TENSORS, { step: '10', note: 'fuzz' });
  const headerLen = Number(new DataView(base.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(base.subarray(8, 8 + headerLen))) as Record<string, Record<string, unknown>>;
  const names = Object.keys(header).filter((n) => n !== '__metadata__');

  const HOSTILE: Record<string, unknown[]> = {
    dtype: ['F8', 'f32', 5, null, 'BOOL', 'I64', 'U8', '__proto__', 'constructor'],
    shape: [[-1], [1.5], [2 ** 53], [2 ** 31, 2 ** 31], [], [0], 'abc', [1e308], [[1]], Array(1000).fill(1), [2 ** 26, 0], null, {}],
    data_offsets: [[0, 2 ** 53], [-1, 4], [5, 3], [0, 0], [0, 8], [8, 24], 'x', [0], [1e20, 1e20 + 4], [0, 1e308], null, [0, 4, 8], [2, 6]],
  };
  function headerEdit(): Uint8Array<ArrayBuffer> {
    const h = structuredClone(header);
    const r = rand();
    if (r < 0.8) {
      const field = pick(Object.keys(HOSTILE));
      h[pick(names)]![field] = pick(HOSTILE[field]!);
    } else if (r < 0.9) {
      h['__metadata__'] = pick<Record<string, unknown>>([{ a: 1 }, { a: null }, { a: ['x'] }, { a: { b: 'c' } }]) as never;
    } else {
      // Two tensors that claim the same bytes.
      const [x, y] = [pick(names), pick(names)];
      h[y]!['data_offsets'] = h[x]!['data_offsets'];
      h[y]!['shape'] = h[x]!['shape'];
      h[y]!['dtype'] = h[x]!['dtype'];
    }
    const json = new TextEncoder().encode(JSON.stringify(h));
    const out = new Uint8Array(8 + json.byteLength + (base.byteLength - 8 - headerLen));
    new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
    out.set(json, 8);
    out.set(base.subarray(8 + headerLen), 8 + json.byteLength);
    return out;
  }
  function lengthEdit(): Uint8Array<ArrayBuffer> {
    const out = base.slice();
    const n = pick([0n, 1n, 2n, BigInt(headerLen - 1), BigInt(headerLen + 1), BigInt(base.byteLength), 2n ** 32n, 2n ** 63n, 100n * 1024n * 1024n + 1n, BigInt(int(2 ** 30))]);
    new DataView(out.buffer).setBigUint64(0, n, true);
    return out;
  }
  const MUTATORS: [string, () => Uint8Array<ArrayBuffer>][] = [
    ['flip header bytes', () => flipBytes(base, 1 + int(4), 0, 8 + headerLen)],
    ['flip any bytes', () => flipBytes(base, 1 + int(8))],
    ['truncate', () => base.slice(0, int(base.byteLength))],
    ['edit a header field', headerEdit],
    ['edit the length prefix', lengthEdit],
    ['overwrite a header character', () => {
      const out = base.slice();
      out[8 + int(headerLen)] = pick([0x22, 0x7b, 0x7d, 0x2c, 0x3a, 0x30, 0x2d, 0x00, 0xff, 0x5b]);
      return out;
    }],
  ];

  it('ends every one of 3000 mutated files in a valid load or a CheckpointFormatError', async () => {
    const failures: string[] = [];
    const counts = { ok: 0, refused: 0, failed: 0 };
    for (let i = 0; i < 3000; i++) {
      const [what, mutate] = pick(MUTATORS);
      const file = mutate();
      counts[await runCase(`safetensors case ${i} (${what})`, async () => {
        for (const t of readSafetensors(file).tensors.values()) checkTensor(t);
      }, failures)]++;
      if (i % 4 === 0) {
        // The streaming reader must agree.
        await runCase(`safetensors case ${i} (${what}, Blob)`, async () => {
          const f = await openSafetensors(new Blob([file]));
          for (const e of f.entries) checkTensor(await f.read(e.name));
        }, failures);
      }
    }
    expect(failures.slice(0, 10)).toEqual([]);
    expect(counts.refused).toBeGreaterThan(1500); // the mutations really do reach the checks
    expect(counts.ok).toBeGreaterThan(200);
  });
});

describe('hostile .pt', () => {
  const ours = writeTorchCheckpoint({ globalStep: 7, stateDict: BASE_TENSORS });
  const fromTorch = new Uint8Array(readFileSync(new URL('../fixtures/io/torch_small.pt', import.meta.url)));

  async function entriesOf(file: Uint8Array): Promise<ZipInputFile[]> {
    const zip = await openZip(byteSource(file));
    return Promise.all([...zip.entries.values()].map(async (e) => ({ name: e.name, data: (await zip.read(e)).slice() })));
  }
  const load = async (file: Uint8Array): Promise<void> => {
    const ckpt = await openTorchCheckpoint(file);
    for (const ref of ckpt.stateDict.values()) checkTensor(await ckpt.readTensor(ref));
  };
  const rezip = (entries: ZipInputFile[], pkl: Uint8Array<ArrayBuffer>): Uint8Array =>
    concatParts(zipParts(entries.map((e) => (e.name.endsWith('data.pkl') ? { name: e.name, data: pkl } : e))));

  function mutatePickle(pkl: Uint8Array): Uint8Array<ArrayBuffer> {
    const b = Array.from(pkl);
    const at = int(b.length);
    switch (int(5)) {
      case 0: b[at] = int(256); break; // any byte, often an opcode
      case 1: b[at]! ^= 1 << int(8); break;
      case 2: b.splice(at, 1 + int(8)); break; // delete a run
      case 3: b.splice(at, 0, ...b.slice(int(b.length), int(b.length) + 1 + int(16))); break; // duplicate a run elsewhere
      default: b.splice(at, 0, pick([0x52, 0x62, 0x81, 0x28, 0x74, 0x75, 0x73, 0x61, 0x51, 0x30, 0x31, 0x2e, 0x68, 0x8a, 0x8b])); // a bare opcode
    }
    return Uint8Array.from(b);
  }

  /** A LatentSync-shaped pickle with one hostile part, against the storages of `ours`. */
  function hostilePickle(): Uint8Array<ArrayBuffer> {
    const REBUILD = new PyGlobal('torch._utils', '_rebuild_tensor_v2');
    const OD = new PyGlobal('collections', 'OrderedDict');
    let storageType: unknown = new PyGlobal('torch', 'FloatStorage');
    let pid: unknown[] = ['storage', storageType, '0', 'cpu', 48];
    let args: unknown[] = [0, pyTuple(4, 3, 2, 2), pyTuple(12, 4, 2, 1), false, new PyReduce(OD, [])];
    let func: PyGlobal = REBUILD;
    let root: 'normal' | 'list' | 'bad-step' = 'normal';
    const huge = pick([2 ** 31, 2 ** 40, 2 ** 53 - 1, 2n ** 64n, -1, 1.5, 'x', null]);
    switch (int(9)) {
      case 0: func = pick([new PyGlobal('os', 'system'), new PyGlobal('builtins', 'eval'), new PyGlobal('posix', 'system'), new PyGlobal('builtins', 'exec'), new PyGlobal('subprocess', 'check_output'), new PyGlobal('torch._utils', '_rebuild_tensor'), new PyGlobal('torch', 'FloatStorage')]); break;
      case 1: args[0] = huge; break; // storage offset
      case 2: args[1] = pyTuple(...pick([[huge], [2 ** 20, 2 ** 20, 2 ** 20], [4, 3, 2], [48, 48]])); break; // size
      case 3: args[2] = pyTuple(...pick([[huge, 1, 1, 1], [0, 0, 0, 0], [12, 4, 2], [1, 1, 1, 1]])); break; // stride
      case 4: args = [...args, ...args]; break;
      case 5: pid[4] = huge; break; // numel
      case 6: pid = pick([['storage', storageType, '99', 'cpu', 48], ['storage', new PyGlobal('collections', 'OrderedDict'), '0', 'cpu', 48], ['module', storageType], [], ['storage', new PyGlobal('torch', 'HalfStorage'), '0', 'cpu', 96]]); break;
      case 7: storageType = pid[1] = new PyGlobal('torch', pick(['ComplexFloatStorage', 'QInt8Storage', 'UntypedStorage'])); break;
      default: root = pick(['list', 'bad-step'] as const);
    }
    const tensor = new PyReduce(func, [new PyPersistentId(pyTuple(...pid)), ...args]);
    const sd = new PyReduce(OD, [], new Map([['a.weight', tensor]]));
    if (root === 'list') return pickle([sd]);
    return pickle(new Map<string, unknown>([['global_step', root === 'bad-step' ? 'seven' : 7], ['state_dict', sd]]));
  }

  it('ends every one of 3000 mutated files in a valid load or a CheckpointFormatError', async () => {
    const bases = await Promise.all([ours, fromTorch].map(async (file) => ({ file, entries: await entriesOf(file) })));
    const oursEntries = bases[0]!.entries;
    const zipEdit = (file: Uint8Array<ArrayBuffer>): Uint8Array => {
      // Overwrite one field of a central-directory entry or of the end records with a hostile value.
      const out = file.slice();
      const v = new DataView(out.buffer);
      const sigs: number[] = [];
      for (let i = out.byteLength - 22; i >= 0; i--) {
        const s = v.getUint32(i, true);
        if (s === 0x02014b50 || s === 0x06054b50 || s === 0x06064b50 || s === 0x07064b50 || s === 0x04034b50) sigs.push(i);
      }
      const at = pick(sigs) + 4 + 2 * int(20);
      if (at + 4 <= out.byteLength) v.setUint32(at, pick([0, 1, 0xffff, 0xffffffff, 0x7fffffff, int(2 ** 32), out.byteLength]), true);
      return out;
    };
    const MUTATORS: [string, (file: Uint8Array<ArrayBuffer>, entries: ZipInputFile[]) => Uint8Array][] = [
      ['flip any bytes', (f) => flipBytes(f, 1 + int(8))],
      ['flip zip trailer bytes', (f) => flipBytes(f, 1 + int(4), Math.max(0, f.byteLength - 400))],
      ['truncate', (f) => f.slice(0, int(f.byteLength))],
      ['edit a zip record field', zipEdit],
      ['mutate the pickle', (_, e) => rezip(e, mutatePickle(e.find((x) => x.name.endsWith('data.pkl'))!.data))],
      ['mutate the pickle twice', (_, e) => rezip(e, mutatePickle(mutatePickle(e.find((x) => x.name.endsWith('data.pkl'))!.data)))],
      ['hostile pickle', () => rezip(oursEntries, hostilePickle())],
      ['ZIP64 records', () => flipBytes(writeTorchCheckpoint({ globalStep: 7, stateDict: BASE_TENSORS }, { forceZip64: true }), 1, Math.max(0, ours.byteLength - 300))],
    ];
    const failures: string[] = [];
    const counts = { ok: 0, refused: 0, failed: 0 };
    for (let i = 0; i < 3000; i++) {
      const [what, mutate] = pick(MUTATORS);
      const { file, entries } = pick(bases);
      counts[await runCase(`pt case ${i} (${what})`, () => load(mutate(file, entries)), failures)]++;
    }
    expect(failures.slice(0, 10)).toEqual([]);
    expect(counts.refused).toBeGreaterThan(1500);
    expect(counts.ok).toBeGreaterThan(200);
  });
});
