import { CheckpointFormatError, type CheckpointPart } from './errors.ts';

/**
 * Random access to the bytes of a file without holding it whole: a Blob/File is read slice by
 * slice (blob.slice), so multi-GB checkpoints never sit in memory at once. Every read is
 * bounds-checked here, so a lying header can only ever produce a CheckpointFormatError.
 */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number, part: CheckpointPart): Promise<Uint8Array>;
}

export type BinaryInput = Blob | ArrayBuffer | ArrayBufferView;

function checkRange(size: number, offset: number, length: number, part: CheckpointPart): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new CheckpointFormatError(
      part,
      `The file points at bytes ${offset}..${offset + length} but is only ${size} bytes long: it is truncated or corrupt. Download or export it again.`,
    );
  }
}

export function byteSource(input: BinaryInput): ByteSource {
  if (input instanceof Blob) {
    const size = input.size;
    return {
      size,
      async read(offset, length, part) {
        checkRange(size, offset, length, part);
        const bytes = new Uint8Array(await input.slice(offset, offset + length).arrayBuffer());
        if (bytes.byteLength !== length) {
          throw new CheckpointFormatError(part, `Read ${bytes.byteLength} of ${length} bytes: the file changed or shrank while it was being read.`);
        }
        return bytes;
      },
    };
  }
  const all = input instanceof ArrayBuffer ? new Uint8Array(input) : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  return {
    size: all.byteLength,
    read(offset, length, part) {
      checkRange(all.byteLength, offset, length, part);
      return Promise.resolve(all.subarray(offset, offset + length));
    },
  };
}

/** What the writers produce: bytes over a plain ArrayBuffer, which is what a Blob accepts. */
export type BlobBytes = Uint8Array<ArrayBuffer>;

/** Joins parts (as produced by the writers) into one buffer. */
export function concatParts(parts: readonly Uint8Array[]): BlobBytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
