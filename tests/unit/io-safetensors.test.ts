// .safetensors reader and writer (src/io/safetensors.ts): round trips in memory and through a
// Blob read slice by slice, and one test per header rule the reader enforces.
import { describe, expect, it } from 'vitest';
import { f32ToF16Array, type TensorData } from '../../src/io/dtype.ts';
import { CheckpointFormatError } from '../../src/io/errors.ts';
import { MAX_HEADER_BYTES, openSafetensors, readSafetensors, safetensorsParts, writeSafetensors } from '../../src/io/safetensors.ts';

const f32 = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i) * 100);
const TENSORS: [string, TensorData][] = [
  ['down.0.weight', { dtype: 'F32', shape: [2, 3, 4], data: f32 }],
  ['down.0.half', { dtype: 'F16', shape: [24], data: f32ToF16Array(f32) }],
  ['bf', { dtype: 'BF16', shape: [3], data: new Uint16Array([0x3f80, 0xc000, 0x0001]) }],
  ['ids', { dtype: 'I64', shape: [1, 2], data: new BigInt64Array([7n, -1n]) }],
  ['mask', { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) }],
  ['odd', { dtype: 'U8', shape: [3], data: new Uint8Array([9, 8, 7]) }],
  ['scalar', { dtype: 'F32', shape: [], data: new Float32Array([42]) }],
  ['empty', { dtype: 'F32', shape: [0, 5], data: new Float32Array(0) }],
];
const METADATA = { format: 'pt', step: '1200', config: '{"sample_size": 32}' };
const bytesOf = (t: TensorData): Uint8Array => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** A file made by hand: length prefix + the given header JSON + the data bytes. */
function handMade(header: unknown, dataLength = 16, prefix?: bigint): Uint8Array<ArrayBuffer> {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + dataLength);
  new DataView(out.buffer).setBigUint64(0, prefix ?? BigInt(json.byteLength), true);
  out.set(json, 8);
  return out;
}

/** A Blob that records the byte ranges read from it. */
class CountingBlob extends Blob {
  reads: [number, number][] = [];
  override slice(start = 0, end = this.size, type?: string): Blob {
    this.reads.push([start, end]);
    return super.slice(start, end, type);
  }
}

describe('safetensors round trip', () => {
  it('reads back what it writes, in memory, with metadata, in order', () => {
    const file = writeSafetensors(TENSORS, METADATA);
    const { metadata, tensors } = readSafetensors(file);
    expect(metadata).toEqual(METADATA);
    expect([...tensors.keys()]).toEqual(TENSORS.map(([n]) => n));
    for (const [name, t] of TENSORS) {
      const got = tensors.get(name)!;
      expect([got.dtype, got.shape]).toEqual([t.dtype, t.shape]);
      expect(got.data).toEqual(bytesOf(t));
    }
  });

  it('keeps a metadata key named __proto__ as plain data', () => {
    const header = '{"__metadata__": {"__proto__": "y"}, "a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}';
    const { metadata } = readSafetensors(handMade(header, 1));
    expect(Object.hasOwn(metadata, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(metadata)).toBe(Object.prototype);
    expect(readSafetensors(writeSafetensors([], metadata)).metadata).toEqual(metadata);
  });

  it('keeps the data region 8-byte aligned and accepts a Map or a record', () => {
    const file = writeSafetensors(new Map(TENSORS));
    const n = Number(new DataView(file.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    expect(writeSafetensors(Object.fromEntries(TENSORS))).toEqual(file);
  });

  it('streams from a Blob: the header first, then only the bytes of each tensor asked for', async () => {
    const parts = safetensorsParts(TENSORS, METADATA);
    const blob = new CountingBlob(parts);
    const file = await openSafetensors(blob);
    expect(file.metadata).toEqual(METADATA);
    expect(file.entries.map((e) => e.name)).toEqual(TENSORS.map(([n]) => n));
    expect(blob.reads).toEqual([[0, 8], [8, file.dataStart]]);
    for (const [name, t] of TENSORS) {
      blob.reads = [];
      const got = await file.read(name);
      expect(got.data).toEqual(bytesOf(t));
      const e = file.entries.find((x) => x.name === name)!;
      expect(blob.reads).toEqual([[file.dataStart + e.offset, file.dataStart + e.offset + e.byteLength]]);
    }
    await expect(file.read('nope')).rejects.toThrow(CheckpointFormatError);
  });

  it('refuses to write data that does not match its shape, or a tensor named __metadata__', () => {
    expect(() => writeSafetensors({ a: { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) } })).toThrow(/needs 16/);
    expect(() => writeSafetensors({ __metadata__: { dtype: 'F32', shape: [], data: new Float32Array(1) } })).toThrow(RangeError);
  });
});

describe('safetensors header validation', () => {
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F16', shape: [4], data_offsets: [8, 16] } };
  it('accepts the valid file these cases start from', () => {
    expect([...readSafetensors(handMade(ok)).tensors.keys()]).toEqual(['a', 'b']);
  });

  const cases: [string, Uint8Array<ArrayBuffer>, RegExp][] = [
    ['a file shorter than 8 bytes', new Uint8Array(5), /shorter than the 8-byte/],
    ['a header longer than the cap', handMade(ok, 16, BigInt(MAX_HEADER_BYTES + 1)), /limit/],
    ['a 2^63 header length', handMade(ok, 16, 2n ** 63n), /limit/],
    ['a header longer than the file', handMade(ok, 16, 1000n), /truncated/],
    ['an empty header', handMade('', 16), /header length is 0/],
    ['a header that is not JSON', handMade('{"a": ', 16), /not JSON/],
    ['a header that is not UTF-8', handMade('{"\xff"}', 16).map((b, i) => (i === 10 ? 0xff : b)), /UTF-8/],
    ['a header that is an array', handMade([1, 2]), /not a JSON object/],
    ['an entry that is not an object', handMade({ a: 3 }), /"a" is not an object/],
    ['an unknown dtype', handMade({ ...ok, a: { ...ok.a, dtype: 'F8' } }), /unknown dtype "F8"/],
    ['a negative dimension', handMade({ ...ok, a: { ...ok.a, shape: [-2] } }), /invalid shape/],
    ['a fractional dimension', handMade({ ...ok, a: { ...ok.a, shape: [1.5] } }), /invalid shape/],
    ['an unsafe-integer dimension', handMade({ ...ok, a: { ...ok.a, shape: [2 ** 60, 2 ** 60] } }), /invalid shape|needs/],
    ['a huge shape', handMade({ ...ok, a: { ...ok.a, shape: [2 ** 40, 2 ** 40] } }), /needs .* bytes/],
    ['offsets past the data', handMade({ ...ok, b: { ...ok.b, data_offsets: [8, 24] } }), /outside the 16-byte data region/],
    ['reversed offsets', handMade({ ...ok, a: { ...ok.a, data_offsets: [8, 0] } }), /outside/],
    ['three offsets', handMade({ ...ok, a: { ...ok.a, data_offsets: [0, 4, 8] } }), /invalid data_offsets/],
    ['a byte length that does not match the shape', handMade({ ...ok, a: { ...ok.a, shape: [3] } }), /needs 12 bytes/],
    ['overlapping tensors', handMade({ ...ok, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }), /overlap/],
    ['metadata that is not a string map', handMade({ ...ok, __metadata__: { step: 5 } }), /__metadata__\["step"\]/],
  ];
  it.each(cases)('refuses %s with a CheckpointFormatError that says what is wrong', async (_, file, message) => {
    expect(() => readSafetensors(file)).toThrow(CheckpointFormatError);
    expect(() => readSafetensors(file)).toThrow(message);
    await expect(openSafetensors(new Blob([file]))).rejects.toThrow(message);
  });
});
