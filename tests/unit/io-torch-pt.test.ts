// PyTorch .pt checkpoints (src/io/torch-pt.ts, zip.ts, pickle.ts): our writer against our reader,
// our reader against files torch.save wrote (tests/fixtures/io, made by
// tools/reference/pt_roundtrip.py), and our writer against torch.load(weights_only=True).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { byteSource, concatParts } from '../../src/io/byte-source.ts';
import { f32ToF16Array, type FileDType, type TensorData } from '../../src/io/dtype.ts';
import { CheckpointFormatError, UnsafePickleError } from '../../src/io/errors.ts';
import { PyGlobal, PyPersistentId, PyReduce, pickle, pyTuple } from '../../src/io/pickle.ts';
import { openTorchCheckpoint, readTorchCheckpoint, torchCheckpointParts, writeTorchCheckpoint } from '../../src/io/torch-pt.ts';
import { crc32, openZip, zipParts, type ZipInputFile } from '../../src/io/zip.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = new URL('../../tools/reference/pt_roundtrip.py', import.meta.url).pathname;
const fixtureUrl = (name: string): URL => new URL(`../fixtures/io/${name}`, import.meta.url);
const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const bytesOf = (t: TensorData): Uint8Array => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

const f32 = Float32Array.from({ length: 60 }, (_, i) => Math.cos(i * 0.37) * 3);
const STATE_DICT: [string, TensorData][] = [
  ['conv_in.weight', { dtype: 'F32', shape: [3, 2, 2, 5], data: f32 }],
  ['conv_in.weight.half', { dtype: 'F16', shape: [60], data: f32ToF16Array(f32) }],
  ['norm.bf16', { dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0xbf00]) }],
  ['position_ids', { dtype: 'I64', shape: [1, 3], data: new BigInt64Array([0n, 1n, 2n]) }],
  ['scalar', { dtype: 'F32', shape: [], data: new Float32Array([-1.5]) }],
  ['empty', { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) }],
];

async function expectSameTensors(file: Uint8Array | Blob, want: [string, TensorData][]): Promise<void> {
  const { tensors } = await readTorchCheckpoint(file);
  expect([...tensors.keys()]).toEqual(want.map(([n]) => n));
  for (const [name, t] of want) {
    const got = tensors.get(name)!;
    expect([name, got.dtype, got.shape]).toEqual([name, t.dtype, t.shape]);
    expect(got.data).toEqual(bytesOf(t));
  }
}

describe('.pt round trip', () => {
  it('reads back what it writes: LatentSync layout, every dtype, scalars, empty tensors', async () => {
    const file = writeTorchCheckpoint({ globalStep: 3000, stateDict: STATE_DICT });
    const ckpt = await openTorchCheckpoint(file);
    expect(ckpt.globalStep).toBe(3000);
    expect((ckpt.root as Map<string, unknown>).get('state_dict')).toBeInstanceOf(Map);
    await expectSameTensors(file, STATE_DICT);
  });

  it('streams from a Blob of parts, with ZIP64 records and a step past 2^32', async () => {
    const parts = torchCheckpointParts({ globalStep: 2 ** 40 + 1, stateDict: new Map(STATE_DICT) }, { forceZip64: true });
    const blob = new Blob(parts);
    expect((await openTorchCheckpoint(blob)).globalStep).toBe(2 ** 40 + 1);
    await expectSameTensors(blob, STATE_DICT);
  });

  it('computes zip CRC-32 (check value of "123456789", and continued over chunks)', () => {
    const data = new TextEncoder().encode('123456789');
    expect(crc32(data)).toBe(0xcbf43926);
    expect(crc32(data.subarray(7), crc32(data.subarray(0, 7)))).toBe(0xcbf43926);
  });

  it('aligns every storage to 64 bytes, as torch does', async () => {
    const file = writeTorchCheckpoint({ globalStep: 1, stateDict: STATE_DICT });
    const zip = await openZip(byteSource(file));
    for (const e of zip.entries.values()) {
      if (!e.name.includes('/data/')) continue;
      const h = new DataView(file.buffer, e.localHeaderOffset);
      expect((e.localHeaderOffset + 30 + h.getUint16(26, true) + h.getUint16(28, true)) % 64).toBe(0);
    }
  });

  it('handles a thousand tensors (SETITEMS batches, memo indices past 255)', async () => {
    const many: [string, TensorData][] = Array.from({ length: 1000 }, (_, i) => [`blocks.${i}.w`, { dtype: 'F32', shape: [2], data: new Float32Array([i, -i]) }]);
    await expectSameTensors(writeTorchCheckpoint({ globalStep: 0, stateDict: many }), many);
  });
});

type Expected = { global_step?: number; tensors: Record<string, { dtype: FileDType; shape: number[]; hex: string }> };

describe('files written by torch.save', () => {
  it.each([
    ['torch_small.pt', 'LatentSync layout from a real state_dict (OrderedDict _metadata), views with offsets and strides, stride 0, f16, bf16'],
    ['torch_params.pt', 'a bare dict of nn.Parameters'],
  ])('reads %s: %s', async (name) => {
    const want = JSON.parse(readFileSync(fixtureUrl(name.replace('.pt', '.expected.json')), 'utf8')) as Expected;
    const { globalStep, tensors } = await readTorchCheckpoint(readFileSync(fixtureUrl(name)));
    expect(globalStep).toBe(want.global_step);
    expect([...tensors.keys()]).toEqual(Object.keys(want.tensors));
    for (const [key, w] of Object.entries(want.tensors)) {
      const got = tensors.get(key)!;
      expect([key, got.dtype, got.shape, toHex(got.data)]).toEqual([key, w.dtype, w.shape, w.hex]);
    }
  });

  it('finds the views of one storage as views (offset, strides), not as copies in the file', async () => {
    const ckpt = await openTorchCheckpoint(readFileSync(fixtureUrl('torch_small.pt')));
    const view = ckpt.stateDict.get('view.offset_strided')!;
    expect([view.storageOffset, view.stride]).toEqual([25, [20, 5, 2]]);
    expect(ckpt.stateDict.get('view.transposed')!.storage).toBe(view.storage);
    expect(ckpt.stateDict.get('view.expanded')!.stride).toEqual([0, 1]);
  });
});

describe('refusals', () => {
  /** A torch-style archive around an arbitrary pickle. */
  const archive = (pkl: Uint8Array<ArrayBuffer>, extra: ZipInputFile[] = []): Uint8Array =>
    concatParts(zipParts([{ name: 'archive/data.pkl', data: pkl }, ...extra]));

  it('refuses a pickle that calls os.system, naming it, before anything runs', async () => {
    const evil = pickle(new PyReduce(new PyGlobal('os', 'system'), ['echo pwned']));
    const err = (await openTorchCheckpoint(archive(evil)).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(UnsafePickleError);
    expect(err.message).toContain('os.system');
  });

  it.each([
    ['builtins', 'eval'],
    ['posix', 'system'],
    ['subprocess', 'Popen'],
    ['torch', 'load'],
    ['collections', 'defaultdict'],
  ])('refuses the global %s.%s', async (module, name) => {
    await expect(openTorchCheckpoint(archive(pickle(new PyReduce(new PyGlobal(module, name), []))))).rejects.toThrow(`${module}.${name}`);
  });

  it('refuses calling an allowed storage class, and a storage type that is not one', async () => {
    const call = pickle(new PyReduce(new PyGlobal('torch', 'FloatStorage'), [4]));
    await expect(openTorchCheckpoint(archive(call))).rejects.toThrow('a call to torch.FloatStorage');
    const pid = pyTuple('storage', new PyGlobal('collections', 'OrderedDict'), '0', 'cpu', 1);
    const fake = pickle(new PyReduce(new PyGlobal('torch._utils', '_rebuild_tensor_v2'), [new PyPersistentId(pid), 0, pyTuple(1), pyTuple(1), false, null]));
    const storage = { name: 'archive/data/0', data: new Uint8Array(4) };
    await expect(openTorchCheckpoint(archive(fake, [storage]))).rejects.toThrow(/collections.OrderedDict as a storage type/);
  });

  it('refuses a compressed entry with a typed error that says so', async () => {
    const file = writeTorchCheckpoint({ globalStep: 1, stateDict: STATE_DICT });
    new DataView(file.buffer).setUint16(findCentralEntry(file, 'archive/data.pkl') + 10, 8, true); // method 8: deflate
    await expect(openTorchCheckpoint(file)).rejects.toThrow(/compressed \(method 8\)/);
  });

  it('finds a flipped bit in a storage by its CRC-32 when the tensor is read', async () => {
    const file = writeTorchCheckpoint({ globalStep: 1, stateDict: STATE_DICT });
    const entry = (await openTorchCheckpoint(file)).stateDict.get('conv_in.weight')!.storage.entry;
    const h = new DataView(file.buffer, entry.localHeaderOffset);
    file[entry.localHeaderOffset + 30 + h.getUint16(26, true) + h.getUint16(28, true) + 5]! ^= 1;
    const ckpt = await openTorchCheckpoint(file);
    await expect(ckpt.readTensor(ckpt.stateDict.get('conv_in.weight')!)).rejects.toThrow(/CRC-32/);
    expect((await ckpt.readTensor(ckpt.stateDict.get('scalar')!)).data).toEqual(bytesOf(STATE_DICT[4]![1]));
  });

  it('refuses a zip that torch did not write, and a file that is no zip', async () => {
    const notTorch = concatParts(zipParts([{ name: 'hello.txt', data: new Uint8Array(3) }]));
    await expect(openTorchCheckpoint(notTorch)).rejects.toThrow(/no data.pkl/);
    await expect(openTorchCheckpoint(new TextEncoder().encode('PK'.padEnd(100, '.')))).rejects.toThrow(/no zip end record/);
  });
});

function findCentralEntry(file: Uint8Array, name: string): number {
  const target = new TextEncoder().encode(name);
  const v = new DataView(file.buffer, file.byteOffset);
  for (let i = file.byteLength - 46; i >= 0; i--) {
    if (v.getUint32(i, true) === 0x02014b50 && v.getUint16(i + 28, true) === target.byteLength && toHex(file.subarray(i + 46, i + 46 + target.byteLength)) === toHex(target)) return i;
  }
  throw new Error(`no central entry ${name}`);
}

const torchReason = ((): string | undefined => {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `${PYTHON} cannot import torch (install python3-torch)`;
})();

describe('torch.load(weights_only=True) on our files', () => {
  const title = (s: string): string => (torchReason ? `${s} [skipped: ${torchReason}]` : s);

  it.skipIf(torchReason !== undefined).each([
    ['plain', false],
    ['ZIP64', true],
  ])(title('opens our %s .pt with the same tensors, and our f32 -> f16 matches torch'), (_, forceZip64) => {
    // Rounding probes for f32 -> f16: the torch fixture's cases plus random values at many scales.
    const want = JSON.parse(readFileSync(fixtureUrl('torch_small.expected.json'), 'utf8')) as Expected;
    const src = new Float32Array(Uint8Array.from(Buffer.from(want.tensors['rounding.src']!.hex, 'hex')).buffer);
    let seed = 1;
    const rand = Float32Array.from({ length: 4096 }, (_, i) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return ((seed / 2 ** 32) * 2 - 1) * 10 ** ((i % 13) - 8);
    });
    const probes = Float32Array.from([...src.filter((x) => !Number.isNaN(x)), ...rand]);
    const sd: [string, TensorData][] = [...STATE_DICT, ['probe.f32', { dtype: 'F32', shape: [probes.length], data: probes }], ['probe.f16', { dtype: 'F16', shape: [probes.length], data: f32ToF16Array(probes) }]];

    const dir = mkdtempSync(join(tmpdir(), 'latent-lab-pt-'));
    try {
      writeFileSync(join(dir, 'ours.pt'), writeTorchCheckpoint({ globalStep: 4242, stateDict: sd }, { forceZip64 }));
      const expected = {
        global_step: 4242,
        tensors: Object.fromEntries(sd.map(([n, t]) => [n, { dtype: t.dtype, shape: t.shape, hex: toHex(bytesOf(t)) }])),
        half_of: { 'probe.f16': 'probe.f32' },
      };
      writeFileSync(join(dir, 'expected.json'), JSON.stringify(expected));
      const out = execFileSync(PYTHON, [SCRIPT, 'check', join(dir, 'ours.pt'), join(dir, 'expected.json')], { encoding: 'utf8' });
      expect(out).toContain(`ok: ${sd.length} tensors, global_step 4242`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
