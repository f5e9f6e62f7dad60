// .safetensors: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the data region.
import { byteSource, concatParts, type BinaryInput, type BlobBytes } from './byte-source.ts';
import { ITEM_SIZE, isFileDType, writableTensors, type FileDType, type LoadedTensor, type NamedTensors } from './dtype.ts';
import { CheckpointFormatError } from './errors.ts';

/** Headers past this are refused before they are read: real ones are a few hundred KB. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface SafetensorsEntry {
  name: string;
  dtype: FileDType;
  shape: number[];
  /** Absolute position of the tensor's bytes in the file. */
  offset: number;
  byteLength: number;
}

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  /** In header order. */
  entries: SafetensorsEntry[];
  /** File offset where the data region starts (8 + header length). */
  dataStart: number;
}

export interface SafetensorsFile extends SafetensorsHeader {
  /** Reads one tensor's bytes (from a Blob: only that slice). */
  read(name: string): Promise<LoadedTensor>;
}

const fail = (what: string): never => {
  throw new CheckpointFormatError('safetensors', `Not a valid .safetensors file: ${what}. Re-export the file, or check that it really is safetensors.`);
};

/** Header length from the first 8 bytes, checked against the file size and MAX_HEADER_BYTES. */
export function headerLength(first8: Uint8Array, fileSize: number): number {
  if (first8.byteLength < 8 || fileSize < 8) fail(`the file is ${fileSize} bytes, shorter than the 8-byte length prefix`);
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const n = hi * 2 ** 32 + lo; // may be inexact when huge, but then it is refused anyway
  if (n > MAX_HEADER_BYTES) fail(`the header claims ${n} bytes, more than the ${MAX_HEADER_BYTES}-byte limit`);
  if (n > fileSize - 8) fail(`the header claims ${n} bytes but only ${fileSize - 8} follow the length prefix (truncated file?)`);
  if (n < 2) fail(`the header length is ${n}`);
  return n;
}

const isSafeCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Parses and validates the JSON header; dataLength is the size of the data region after it. */
export function parseHeader(json: Uint8Array, dataLength: number): Omit<SafetensorsHeader, 'dataStart'> {
  let text: string;
  let root: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch {
    return fail('the header is not UTF-8 text');
  }
  try {
    root = JSON.parse(text);
  } catch (e) {
    return fail(`the header is not JSON (${(e as Error).message})`);
  }
  if (typeof root !== 'object' || root === null || Array.isArray(root)) fail('the header is not a JSON object');

  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, info] of Object.entries(root as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) fail('__metadata__ is not an object');
      const pairs = Object.entries(info as Record<string, unknown>);
      for (const [k, v] of pairs) if (typeof v !== 'string') fail(`__metadata__["${k}"] is not a string`);
      metadata = Object.fromEntries(pairs) as Record<string, string>; // fromEntries keeps a "__proto__" key as data
      continue;
    }
    if (typeof info !== 'object' || info === null || Array.isArray(info)) fail(`entry "${name}" is not an object`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (!isFileDType(dtype)) fail(`tensor "${name}" has unknown dtype ${JSON.stringify(dtype)}`);
    const d = dtype as FileDType;
    if (!Array.isArray(shape) || !shape.every(isSafeCount)) fail(`tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSafeCount)) {
      fail(`tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLength) {
      fail(`tensor "${name}" has data_offsets [${begin}, ${end}] outside the ${dataLength}-byte data region`);
    }
    // Multiply step by step against the known byte length so a huge shape can never overflow.
    let bytes = ITEM_SIZE[d];
    for (const dim of shape as number[]) bytes *= dim;
    if (bytes !== end - begin) {
      fail(`tensor "${name}" (${d}, shape [${(shape as number[]).join(', ')}]) needs ${bytes} bytes but data_offsets give ${end - begin}`);
    }
    entries.push({ name, dtype: d, shape: [...(shape as number[])], offset: begin, byteLength: end - begin });
  }
  const sorted = [...entries].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    if (sorted[i]!.offset < prev.offset + prev.byteLength) fail(`tensors "${prev.name}" and "${sorted[i]!.name}" overlap`);
  }
  return { metadata, entries };
}

/** Reads a whole in-memory file. Tensor bytes are views into `input`, not copies. */
export function readSafetensors(input: ArrayBuffer | ArrayBufferView): { metadata: Record<string, string>; tensors: Map<string, LoadedTensor> } {
  const all = input instanceof ArrayBuffer ? new Uint8Array(input) : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  const n = headerLength(all.subarray(0, 8), all.byteLength);
  const dataStart = 8 + n;
  const { metadata, entries } = parseHeader(all.subarray(8, dataStart), all.byteLength - dataStart);
  const tensors = new Map<string, LoadedTensor>();
  for (const e of entries) {
    const at = dataStart + e.offset;
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: all.subarray(at, at + e.byteLength) });
  }
  return { metadata, tensors };
}

/** Opens a file (a Blob/File streams: the header first, then each tensor on demand). */
export async function openSafetensors(input: BinaryInput): Promise<SafetensorsFile> {
  const src = byteSource(input);
  if (src.size < 8) fail(`the file is ${src.size} bytes, shorter than the 8-byte length prefix`);
  const n = headerLength(await src.read(0, 8, 'safetensors'), src.size);
  const dataStart = 8 + n;
  const { metadata, entries } = parseHeader(await src.read(8, n, 'safetensors'), src.size - dataStart);
  const byName = new Map(entries.map((e) => [e.name, e]));
  return {
    metadata,
    entries,
    dataStart,
    async read(name) {
      const e = byName.get(name);
      if (!e) throw new CheckpointFormatError('safetensors', `The file has no tensor named "${name}".`);
      const data = await src.read(dataStart + e.offset, e.byteLength, 'safetensors');
      return { dtype: e.dtype, shape: [...e.shape], data };
    },
  };
}

/**
 * The file as parts: the length prefix + header, then each tensor's bytes (views, not copies).
 * `new Blob(parts)` builds a download without one contiguous copy of every weight.
 */
export function safetensorsParts(tensors: NamedTensors, metadata: Readonly<Record<string, string>> = {}): BlobBytes[] {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header['__metadata__'] = { ...metadata };
  const parts: BlobBytes[] = [];
  let offset = 0;
  for (const [name, t, bytes] of writableTensors(tensors)) {
    if (name === '__metadata__') throw new RangeError('A tensor may not be named "__metadata__".');
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.byteLength] };
    offset += bytes.byteLength;
    parts.push(bytes);
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8; // spaces keep the data region 8-byte aligned
  const head = new Uint8Array(8 + padded).fill(0x20, 8 + json.byteLength);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  return [head, ...parts];
}

/** The whole file in one buffer. */
export function writeSafetensors(tensors: NamedTensors, metadata?: Readonly<Record<string, string>>): BlobBytes {
  return concatParts(safetensorsParts(tensors, metadata));
}
