import type { DType } from './dtype.ts';

/**
 * Specializes a kernel's inputs to their storage dtype. A kernel declares each input as `array<IN_name>`
 * and reads it only through `ld_name(i)`, which returns f32; this replaces IN_name with f32 or u32 and adds
 * the matching loader (f16: two halves per u32 word). Outputs are written as f32; see ops/cast.ts.
 */
export function specialize(source: string, dtypes: Readonly<Record<string, DType>>): string {
  const names = new Set([...source.matchAll(/\bIN_(\w+)\b/g)].map((m) => m[1]));
  let out = source;
  const loaders: string[] = [];
  for (const name of names) {
    const dtype = dtypes[name];
    if (!dtype) throw new Error(`specialize: no dtype given for input "${name}"`);
    out = out.replace(new RegExp(`\\bIN_${name}\\b`, 'g'), dtype === 'f32' ? 'f32' : 'u32');
    loaders.push(
      dtype === 'f32'
        ? `fn ld_${name}(i: u32) -> f32 { return ${name}[i]; }`
        : `fn ld_${name}(i: u32) -> f32 { return unpack2x16float(${name}[i >> 1u])[i & 1u]; }`,
    );
  }
  return `${out}\n${loaders.join('\n')}\n`;
}

/** Parameter blocks for the uniform binding: u32 and f32 fields in declaration order, padded to 16 bytes. */
export function params(fields: ReadonlyArray<readonly ['u32' | 'i32' | 'f32', number]>): Uint8Array {
  const buf = new ArrayBuffer(Math.max(16, Math.ceil(fields.length / 4) * 16));
  const view = new DataView(buf);
  fields.forEach(([type, v], i) => {
    if (type === 'f32') view.setFloat32(i * 4, v, true);
    else if (type === 'i32') view.setInt32(i * 4, v, true);
    else view.setUint32(i * 4, v, true);
  });
  return new Uint8Array(buf);
}
