// The subset of zip that torch.save uses: STORED (uncompressed) entries, ZIP64 when an entry or
// offset passes 4 GiB, data aligned to 64 bytes with a padding extra field. Reading goes through
// the central directory and a ByteSource, so only the bytes asked for are ever read.
import type { BlobBytes, ByteSource } from './byte-source.ts';
import { CheckpointFormatError } from './errors.ts';

export interface ZipEntry {
  name: string;
  size: number;
  crc32: number;
  localHeaderOffset: number;
}

export interface ZipArchive {
  /** Entries by name, in central-directory order. */
  entries: Map<string, ZipEntry>;
  /** The entry's bytes; verifyCrc (default true) checks them against the stored CRC-32. */
  read(entry: ZipEntry, verifyCrc?: boolean): Promise<Uint8Array>;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const U32_MAX = 0xffffffff;
/** Central directories past this are refused: a checkpoint's holds a few hundred small entries. */
const MAX_CENTRAL_DIRECTORY = 256 * 1024 * 1024;

const fail = (what: string): never => {
  throw new CheckpointFormatError('zip', `Not a readable PyTorch checkpoint archive: ${what}. Re-save it with torch.save, or export it again.`);
};

const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

function u64(v: DataView, at: number): number {
  const n = v.getUint32(at + 4, true) * 2 ** 32 + v.getUint32(at, true);
  if (!Number.isSafeInteger(n)) fail(`a 64-bit size or offset (${n}) is beyond what any real file holds`);
  return n;
}

let crcTables: Uint32Array[] | undefined;
/** CRC-32 (IEEE, as zip uses); pass the previous value to continue over several chunks. */
export function crc32(data: Uint8Array, crc = 0): number {
  if (!crcTables) {
    // Slicing-by-4: four tables let the loop fold in four bytes per step (about 3x faster than one).
    crcTables = Array.from({ length: 4 }, () => new Uint32Array(256));
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTables[0]![i] = c >>> 0;
    }
    for (let t = 1; t < 4; t++) {
      for (let i = 0; i < 256; i++) crcTables[t]![i] = (crcTables[t - 1]![i]! >>> 8) ^ crcTables[0]![crcTables[t - 1]![i]! & 0xff]!;
    }
  }
  const [t0, t1, t2, t3] = crcTables as [Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let c = ~crc;
  let i = 0;
  for (const end4 = data.length - 3; i < end4; i += 4) {
    c ^= data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    c = t3[c & 0xff]! ^ t2[(c >>> 8) & 0xff]! ^ t1[(c >>> 16) & 0xff]! ^ t0[c >>> 24]!;
  }
  for (; i < data.length; i++) c = t0[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** Finds the end-of-central-directory record (and its ZIP64 twin) and returns the central directory's place. */
async function locateCentralDirectory(src: ByteSource): Promise<{ count: number; offset: number; size: number; end: number }> {
  if (src.size < 22) fail(`the file is ${src.size} bytes, too short to be a zip archive`);
  const tailLen = Math.min(src.size, 22 + 0xffff); // the record plus the longest possible comment
  const tailStart = src.size - tailLen;
  const tail = await src.read(tailStart, tailLen, 'zip');
  const t = dv(tail);
  let at = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (t.getUint32(i, true) === SIG_EOCD && i + 22 + t.getUint16(i + 20, true) <= tailLen) {
      at = i;
      break;
    }
  }
  if (at < 0) fail('no zip end record was found (a PyTorch file older than 1.6, or not a checkpoint at all)');
  if (t.getUint16(at + 4, true) !== 0 || t.getUint16(at + 6, true) !== 0) fail('it is a multi-part (spanned) archive');
  let count = t.getUint16(at + 10, true);
  let size = t.getUint32(at + 12, true);
  let offset = t.getUint32(at + 16, true);
  let end = tailStart + at;
  if (end >= 20) {
    const locator = dv(await src.read(end - 20, 20, 'zip'));
    if (locator.getUint32(0, true) === SIG_ZIP64_LOCATOR) {
      const recAt = u64(locator, 8);
      if (recAt + 56 > end - 20) fail('the ZIP64 end record lies outside the file');
      const rec = dv(await src.read(recAt, 56, 'zip'));
      if (rec.getUint32(0, true) !== SIG_ZIP64_EOCD) fail('the ZIP64 end record is missing');
      count = u64(rec, 32);
      size = u64(rec, 40);
      offset = u64(rec, 48);
      end = recAt;
    }
  }
  if (offset + size > end) fail(`the central directory (${size} bytes at ${offset}) runs past its end record`);
  if (size > MAX_CENTRAL_DIRECTORY) fail(`the central directory is ${size} bytes`);
  if (count * 46 > size) fail(`${count} entries cannot fit in a ${size}-byte central directory`);
  return { count, offset, size, end };
}

export async function openZip(src: ByteSource): Promise<ZipArchive> {
  const cdPlace = await locateCentralDirectory(src);
  const cd = await src.read(cdPlace.offset, cdPlace.size, 'zip');
  const c = dv(cd);
  const utf8 = new TextDecoder();
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < cdPlace.count; i++) {
    if (p + 46 > cd.byteLength || c.getUint32(p, true) !== SIG_CENTRAL) fail(`central directory entry ${i} is damaged`);
    const flags = c.getUint16(p + 8, true);
    const method = c.getUint16(p + 10, true);
    const crc = c.getUint32(p + 16, true);
    let packed = c.getUint32(p + 20, true);
    let size = c.getUint32(p + 24, true);
    const nameLen = c.getUint16(p + 28, true);
    const extraLen = c.getUint16(p + 30, true);
    const commentLen = c.getUint16(p + 32, true);
    let local = c.getUint32(p + 42, true);
    const next = p + 46 + nameLen + extraLen + commentLen;
    if (next > cd.byteLength) fail(`central directory entry ${i} runs past the directory`);
    const name = utf8.decode(cd.subarray(p + 46, p + 46 + nameLen));

    // ZIP64 extra field: the 64-bit values of whichever fields were set to 0xFFFFFFFF, in this order.
    for (let x = p + 46 + nameLen; x + 4 <= p + 46 + nameLen + extraLen; ) {
      const id = c.getUint16(x, true);
      const len = c.getUint16(x + 2, true);
      const body = x + 4;
      if (body + len > p + 46 + nameLen + extraLen) fail(`entry "${name}" has a damaged extra field`);
      if (id === 0x0001) {
        let q = body;
        const take = (): number => {
          if (q + 8 > body + len) fail(`entry "${name}" has a short ZIP64 field`);
          q += 8;
          return u64(c, q - 8);
        };
        if (size === U32_MAX) size = take();
        if (packed === U32_MAX) packed = take();
        if (local === U32_MAX) local = take();
      }
      x = body + len;
    }
    if (flags & 1) fail(`entry "${name}" is encrypted`);
    if (method !== 0) fail(`entry "${name}" is compressed (method ${method}); torch.save writes uncompressed entries`);
    if (packed !== size) fail(`entry "${name}" is stored but its two sizes differ (${packed} vs ${size})`);
    if (local + 30 + size > cdPlace.offset) fail(`entry "${name}" (${size} bytes at ${local}) does not fit before the central directory`);
    if (entries.has(name)) fail(`entry "${name}" appears twice`);
    entries.set(name, { name, size, crc32: crc, localHeaderOffset: local });
    p = next;
  }

  const dataStart = new Map<ZipEntry, number>();
  async function locate(e: ZipEntry): Promise<number> {
    const known = dataStart.get(e);
    if (known !== undefined) return known;
    const h = dv(await src.read(e.localHeaderOffset, 30, 'zip'));
    if (h.getUint32(0, true) !== SIG_LOCAL) fail(`entry "${e.name}" has no local header where the directory says`);
    const start = e.localHeaderOffset + 30 + h.getUint16(26, true) + h.getUint16(28, true);
    if (start + e.size > cdPlace.offset) fail(`entry "${e.name}" runs into the central directory`);
    dataStart.set(e, start);
    return start;
  }

  return {
    entries,
    async read(e, verifyCrc = true) {
      const data = await src.read(await locate(e), e.size, 'zip');
      if (verifyCrc && crc32(data) !== e.crc32) fail(`entry "${e.name}" is corrupt (CRC-32 mismatch)`);
      return data;
    },
  };
}

export interface ZipInputFile {
  name: string;
  data: BlobBytes;
}

export interface ZipWriteOptions {
  /** Align each entry's data to this many bytes (torch uses 64, so storages can be memory-mapped). */
  align?: number;
  /** Write ZIP64 records even for small archives (tests use it to check the >4 GiB path). */
  forceZip64?: boolean;
}

/**
 * A STORED zip archive as parts: headers are small new buffers, file data are the caller's
 * buffers (not copied), so `new Blob(parts)` streams multi-GB checkpoints out.
 */
export function zipParts(files: readonly ZipInputFile[], opts: ZipWriteOptions = {}): BlobBytes[] {
  const align = opts.align ?? 1;
  const encoder = new TextEncoder();
  const parts: BlobBytes[] = [];
  const central: BlobBytes[] = [];
  let offset = 0;
  let anyZip64 = false;
  const DOS_DATE_1980_01_01 = 0x21; // fixed timestamp: the same tensors give the same bytes

  for (const f of files) {
    const name = encoder.encode(f.name);
    const size = f.data.byteLength;
    const crc = crc32(f.data);
    const zip64 = opts.forceZip64 === true || size >= U32_MAX || offset >= U32_MAX;
    anyZip64 ||= zip64;
    const utf8Flag = /^[\x20-\x7e]*$/.test(f.name) ? 0 : 0x0800;
    const version = zip64 ? 45 : 20;

    const zip64Local = zip64 ? 20 : 0;
    const unpadded = offset + 30 + name.byteLength + zip64Local;
    // The whole padding field, its 4-byte head included, that puts the data on an `align` boundary.
    const pad = align > 1 ? 4 + ((align - ((unpadded + 4) % align)) % align) : 0;
    const local = new Uint8Array(30 + name.byteLength + zip64Local + pad);
    const l = dv(local);
    l.setUint32(0, SIG_LOCAL, true);
    l.setUint16(4, version, true);
    l.setUint16(6, utf8Flag, true);
    l.setUint16(12, DOS_DATE_1980_01_01, true);
    l.setUint32(14, crc, true);
    l.setUint32(18, zip64 ? U32_MAX : size, true);
    l.setUint32(22, zip64 ? U32_MAX : size, true);
    l.setUint16(26, name.byteLength, true);
    l.setUint16(28, local.byteLength - 30 - name.byteLength, true);
    local.set(name, 30);
    let x = 30 + name.byteLength;
    if (zip64) {
      l.setUint16(x, 0x0001, true);
      l.setUint16(x + 2, 16, true);
      l.setBigUint64(x + 4, BigInt(size), true);
      l.setBigUint64(x + 12, BigInt(size), true);
      x += 20;
    }
    if (pad > 0) {
      l.setUint16(x, 0x4246, true); // "FB", the id torch uses for its padding field
      l.setUint16(x + 2, pad - 4, true);
    }
    parts.push(local, f.data);

    const zip64Central = zip64 ? 28 : 0;
    const entry = new Uint8Array(46 + name.byteLength + zip64Central);
    const e = dv(entry);
    e.setUint32(0, SIG_CENTRAL, true);
    e.setUint16(4, version, true);
    e.setUint16(6, version, true);
    e.setUint16(8, utf8Flag, true);
    e.setUint16(14, DOS_DATE_1980_01_01, true);
    e.setUint32(16, crc, true);
    e.setUint32(20, zip64 ? U32_MAX : size, true);
    e.setUint32(24, zip64 ? U32_MAX : size, true);
    e.setUint16(28, name.byteLength, true);
    e.setUint16(30, zip64Central, true);
    e.setUint32(42, zip64 ? U32_MAX : offset, true);
    entry.set(name, 46);
    if (zip64) {
      const z = 46 + name.byteLength;
      e.setUint16(z, 0x0001, true);
      e.setUint16(z + 2, 24, true);
      e.setBigUint64(z + 4, BigInt(size), true);
      e.setBigUint64(z + 12, BigInt(size), true);
      e.setBigUint64(z + 20, BigInt(offset), true);
    }
    central.push(entry);
    offset += local.byteLength + size;
  }

  const cdOffset = offset;
  const cdSize = central.reduce((n, b) => n + b.byteLength, 0);
  parts.push(...central);
  const count = files.length;
  const zip64End = anyZip64 || count >= 0xffff || cdOffset >= U32_MAX || cdSize >= U32_MAX;
  if (zip64End) {
    const rec = new Uint8Array(56 + 20);
    const r = dv(rec);
    r.setUint32(0, SIG_ZIP64_EOCD, true);
    r.setBigUint64(4, 44n, true); // size of the rest of this record
    r.setUint16(12, 45, true);
    r.setUint16(14, 45, true);
    r.setBigUint64(24, BigInt(count), true);
    r.setBigUint64(32, BigInt(count), true);
    r.setBigUint64(40, BigInt(cdSize), true);
    r.setBigUint64(48, BigInt(cdOffset), true);
    r.setUint32(56, SIG_ZIP64_LOCATOR, true);
    r.setBigUint64(64, BigInt(cdOffset + cdSize), true);
    r.setUint32(72, 1, true); // total number of disks
    parts.push(rec);
  }
  const end = new Uint8Array(22);
  const d = dv(end);
  d.setUint32(0, SIG_EOCD, true);
  d.setUint16(8, zip64End ? 0xffff : count, true);
  d.setUint16(10, zip64End ? 0xffff : count, true);
  d.setUint32(12, zip64End ? U32_MAX : cdSize, true);
  d.setUint32(16, zip64End ? U32_MAX : cdOffset, true);
  parts.push(end);
  return parts;
}
