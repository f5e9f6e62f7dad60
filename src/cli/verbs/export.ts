import { openAsBlob } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { fmtBytes } from '../../gpu/memory/bytes.ts';
import type { BlobBytes } from '../../io/byte-source.ts';
import { safetensorsParts } from '../../io/safetensors.ts';
import { torchCheckpointParts } from '../../io/torch-pt.ts';
import { DirCheckpointBackend, isCheckpointDir } from '../../store/checkpoint-dir.ts';
import { CheckpointStore } from '../../store/checkpoint-store.ts';
import { exportCheckpoint, openWeights, type ExportFormat } from '../../train/checkpoint-export.ts';
import type { TensorData } from '../../io/dtype.ts';
import type { Args } from '../args.ts';

export const help =
  'write a saved checkpoint as a file PyTorch loads: --checkpoint STORE_DIR|CHECKPOINT_DIR|WEIGHTS_FILE [--id ID] --format pt|safetensors --out FILE [--f16]';

export async function run(args: Args): Promise<void> {
  const from = args.str('checkpoint') ?? args.positional[0];
  const out = args.str('out');
  if (!from) throw new Error('--checkpoint is required: a checkpoint store directory, one checkpoint directory, or a .safetensors/.pt file');
  if (!out) throw new Error('--out FILE is required');
  const format = formatOf(args.str('format'), out);
  const dtype = args.bool('f16') ? 'F16' : 'F32';
  const { parts, what } = (await stat(from)).isDirectory() || basename(from) === 'manifest.json' ? await fromStore(from, args.str('id'), format, dtype) : await fromWeightsFile(from, format);
  const bytes = await writeParts(out, parts);
  console.log(`exported ${what} as ${format} (${fmtBytes(bytes)}) to ${out}`);
}

function formatOf(given: string | undefined, out: string): ExportFormat {
  const f = given ?? (out.endsWith('.pt') || out.endsWith('.pth') || out.endsWith('.ckpt') ? 'pt' : out.endsWith('.safetensors') ? 'safetensors' : undefined);
  if (f !== 'pt' && f !== 'safetensors') throw new Error(`--format must be pt or safetensors${given ? `, got "${given}"` : ' (the --out name does not say which)'}`);
  return f;
}

/** A store directory (the newest checkpoint, or --id), one checkpoint's directory, or its manifest.json. */
async function fromStore(path: string, id: string | undefined, format: ExportFormat, dtype: 'F32' | 'F16') {
  let dir = resolve(basename(path) === 'manifest.json' ? dirname(path) : path);
  if (await isCheckpointDir(dir)) {
    id ??= basename(dir);
    dir = dirname(dir);
  }
  // Opened without gc: exporting never deletes anything.
  const store = new CheckpointStore(new DirCheckpointBackend(dir));
  const list = await store.list();
  const manifest = id ? list.find((m) => m.id === id) : await store.latest();
  if (!manifest) {
    throw new Error(
      id ? `${dir} has no whole checkpoint "${id}"${list.length ? `; it has: ${list.map((m) => m.id).join(', ')}` : ''}` : `${dir} holds no whole checkpoint (a directory store written by latent-lab)`,
    );
  }
  const ckpt = await store.open(manifest.id);
  return { parts: await exportCheckpoint(ckpt, format, { dtype }), what: `checkpoint ${manifest.id} (step ${manifest.step}, ${manifest.preset})` };
}

/** Converts a weights file between the two formats (metadata kept where the target has room for it). */
async function fromWeightsFile(path: string, format: ExportFormat) {
  const src = await openWeights(await openAsBlob(path));
  const tensors = new Map<string, TensorData>();
  for (const e of src.entries) tensors.set(e.name, await src.read(e.name));
  const step = src.globalStep ?? Number(src.metadata.step ?? 0);
  const parts =
    format === 'pt'
      ? torchCheckpointParts({ globalStep: Number.isSafeInteger(step) ? step : 0, stateDict: tensors })
      : safetensorsParts(tensors, { ...src.metadata, ...(src.globalStep !== undefined ? { step: String(src.globalStep) } : {}) });
  return { parts, what: `${path} (${src.format}, ${tensors.size} tensors)` };
}

/** Writes part after part (no single copy of the whole file), to a temporary name renamed at the end. */
async function writeParts(out: string, parts: readonly BlobBytes[]): Promise<number> {
  const tmp = `${out}.partial`;
  const f = await open(tmp, 'w');
  let bytes = 0;
  try {
    for (const p of parts) {
      await f.write(p);
      bytes += p.byteLength;
    }
    await f.sync();
  } catch (e) {
    await f.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await f.close();
  await rename(tmp, out);
  return bytes;
}
