// f16 / bf16 <-> f32 conversions (src/io/dtype.ts). The rounding oracle is torch's own .half(),
// committed in tests/fixtures/io/torch_small.expected.json by tools/reference/pt_roundtrip.py.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bf16ToF32, f16ToF32, f16ToF32Array, f32ToF16, f32ToF16Array, toStorage } from '../../src/io/dtype.ts';
import { CheckpointFormatError } from '../../src/io/errors.ts';

const expected = JSON.parse(readFileSync(new URL('../fixtures/io/torch_small.expected.json', import.meta.url), 'utf8')) as {
  tensors: Record<string, { dtype: string; shape: number[]; hex: string }>;
};
const bytesOfHex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
const fixture = (name: string): ArrayBuffer => bytesOfHex(expected.tensors[name]!.hex).buffer as ArrayBuffer;

describe('f16', () => {
  it("rounds f32 -> f16 exactly as torch's .half() (ties, subnormals, overflow, specials, random)", () => {
    const src = new Float32Array(fixture('rounding.src'));
    const want = new Uint16Array(fixture('rounding.f16'));
    const got = f32ToF16Array(src);
    const bad = [...got.keys()].filter((i) => got[i] !== want[i]);
    expect(bad.map((i) => [src[i], got[i]!.toString(16), want[i]!.toString(16)])).toEqual([]);
    expect(src.length).toBeGreaterThan(400);
  });

  it('decodes every half exactly, and encoding the decoded value gives the same bits back', () => {
    const bad: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const x = f16ToF32(h);
      const isNaNBits = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      const ok = Number.isNaN(x) ? isNaNBits && (f32ToF16(x) & 0x7e00) === 0x7e00 : f32ToF16(x) === h;
      if (!ok) bad.push(h);
    }
    expect(bad).toEqual([]);
    expect(f16ToF32Array(new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7bff]))).toEqual(new Float32Array([1, -2, 2 ** -24, 65504]));
  });
});

describe('toStorage', () => {
  it('turns bf16 into f32 exactly (bf16 is the top half of an f32)', () => {
    const bits = new Uint16Array(fixture('bf16.weight'));
    const f32 = toStorage({ dtype: 'BF16', shape: [6], data: bits }, 'f32');
    const back = new Uint32Array(f32.buffer);
    expect([...back].map((b) => b >>> 16)).toEqual([...bits]);
    expect([...back].every((b) => (b & 0xffff) === 0)).toBe(true);
    expect(bf16ToF32(0x3f80)).toBe(1);
  });

  it('converts between F32, F16 and BF16 storage, from unaligned bytes, into fresh memory', () => {
    const values = new Float32Array([1, -2.5, 0.1, 65504]);
    const unaligned = new Uint8Array(17).subarray(1);
    unaligned.set(new Uint8Array(values.buffer));
    const f32 = toStorage({ dtype: 'F32', shape: [4], data: unaligned }, 'f32');
    expect(f32).toEqual(values);
    expect(f32.buffer).not.toBe(unaligned.buffer);
    const f16 = toStorage({ dtype: 'F32', shape: [2, 2], data: values }, 'f16');
    expect(f16).toEqual(f32ToF16Array(values));
    expect(toStorage({ dtype: 'F16', shape: [4], data: f16 }, 'f32')).toEqual(f16ToF32Array(f16));
    expect(toStorage({ dtype: 'F16', shape: [4], data: f16 }, 'f16')).toEqual(f16);
    expect(toStorage({ dtype: 'BF16', shape: [1], data: new Uint16Array([0x3fc0]) }, 'f16')).toEqual(new Uint16Array([0x3e00]));
  });

  it('refuses integer tensors and byte counts that do not match the shape, with a typed error', () => {
    expect(() => toStorage({ dtype: 'I64', shape: [1], data: new BigInt64Array(1) }, 'f32', 'position_ids')).toThrow(
      /position_ids has dtype I64/,
    );
    expect(() => toStorage({ dtype: 'F32', shape: [3], data: new Float32Array(2) }, 'f32')).toThrow(CheckpointFormatError);
  });
});
