// What a UNet file exported by the lab says about running it (src/train/checkpoint-export.ts writes it):
// the crop size from `train_config`, and from `dataset_config` the dataset's audio features, token window
// and mask. Lip sync gives the model what it trained on, unless the caller says otherwise. A file from
// elsewhere says nothing (every fact absent); a value that is there but malformed is refused, not guessed.
// No DOM: runs in the worker and in Node.
import type { TokenWindow } from '../data/audio-tokens.ts';
import { validateMask, type MaskParams } from '../data/mask.ts';
import type { AudioFeatureConfig } from '../store/dataset-store.ts';

export interface UnetFileFacts {
  resolution?: number;
  audio?: AudioFeatureConfig;
  window?: TokenWindow;
  mask?: MaskParams;
}

export class UnetFileFactsError extends Error {
  readonly action = 'Give the settings it should carry (resolution, audio features, mask) explicitly, or export the checkpoint again.';
  constructor(field: string, why: string) {
    super(`The UNet file's metadata ${field} is malformed (${why}).`);
  }
}

const count = (v: unknown, min: number): v is number => Number.isInteger(v) && (v as number) >= min;

function object(metadata: Record<string, string>, key: string): Record<string, unknown> | null {
  const raw = metadata[key];
  if (raw === undefined) return null;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new UnetFileFactsError(key, 'not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UnetFileFactsError(key, 'not a JSON object');
  return v as Record<string, unknown>;
}

function audioOf(v: unknown): AudioFeatureConfig {
  const a = v as Record<string, unknown>;
  if (a?.kind === 'logmel' && count(a.nMels, 1)) return { kind: 'logmel', nMels: a.nMels };
  if (a?.kind === 'encoder' && typeof a.encoder === 'string' && count(a.layers, 1) && count(a.dim, 1)) return { kind: 'encoder', encoder: a.encoder, layers: a.layers, dim: a.dim };
  throw new UnetFileFactsError('dataset_config.audio', `${JSON.stringify(v)} is neither {kind: "logmel", nMels} nor {kind: "encoder", encoder, layers, dim}`);
}

function windowOf(v: unknown): TokenWindow {
  const w = v as Record<string, unknown>;
  if (count(w?.left, 0) && count(w?.right, 0)) return { left: w.left, right: w.right };
  throw new UnetFileFactsError('dataset_config.window', `${JSON.stringify(v)} is not {left, right} in whole steps`);
}

function maskOf(v: unknown): MaskParams {
  const m = v as Record<string, unknown>;
  const mask = { top: Number(m?.top), bottom: Number(m?.bottom), side: Number(m?.side) };
  const bad = validateMask(mask);
  if (bad) throw new UnetFileFactsError('dataset_config.mask', bad);
  return mask;
}

export function unetFileFacts(metadata: Record<string, string>): UnetFileFacts {
  const train = object(metadata, 'train_config');
  const dataset = object(metadata, 'dataset_config');
  const facts: UnetFileFacts = {};
  if (train?.resolution !== undefined) {
    if (!count(train.resolution, 1)) throw new UnetFileFactsError('train_config.resolution', `${JSON.stringify(train.resolution)} is not a size in pixels`);
    facts.resolution = train.resolution;
  }
  if (dataset?.audio !== undefined) facts.audio = audioOf(dataset.audio);
  if (dataset?.window !== undefined) facts.window = windowOf(dataset.window);
  if (dataset?.mask !== undefined) facts.mask = maskOf(dataset.mask);
  return facts;
}
