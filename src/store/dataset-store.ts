// Datasets in IndexedDB (via idb): clips at the training resolution, their audio and audio
// features, and their VAE latents once encoded, each clip with its metadata.
//
// Layout (one database, five object stores):
//   datasets  id -> DatasetMeta (name, config shared by its clips, clip ids in order)
//   clips     id -> ClipMeta (source, box, counts, warnings, what is cached), index by dataset
//   frames    [clipId, chunk] -> RGB frames, FRAMES_PER_CHUNK per record
//   latents   [clipId, chunk] -> latents and masked-frame latents of those frames
//   audio     clipId -> 16 kHz mono PCM and its features (log-mel or encoder states)
// A clip's data is written first and its metadata last, in the transaction that also lists it in
// its dataset: a clip is listed only once all of it is there. Data left by an ingest that died
// half way (a closed tab) has no metadata and is collected by gc(). Deleting a clip removes every
// record under its id in one transaction.
// Worker-safe: IndexedDB and navigator.storage exist in workers.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { encoderTokens, melTokens, tokenShape, type TokenWindow } from '../data/audio-tokens.ts';
import type { FaceBox } from '../data/crop.ts';
import { nearestDownsample, pixelMask, type MaskParams } from '../data/mask.ts';
import type { ClipLatents } from '../train/sample.ts';

export const DB_NAME = 'latent-lab-datasets';
export const DB_VERSION = 1;
export const FRAMES_PER_CHUNK = 16;

export type AudioFeatureConfig =
  | { kind: 'logmel'; nMels: number }
  | { kind: 'encoder'; encoder: string; layers: number; dim: number };

export interface DatasetConfig {
  /** Training resolution: frames are resolution x resolution. */
  resolution: number;
  mask: MaskParams;
  audio: AudioFeatureConfig;
  window: TokenWindow;
  fps: number;
}

export interface DatasetMeta {
  id: string;
  name: string;
  createdAt: number;
  config: DatasetConfig;
  clipIds: string[];
}

export interface ClipSource {
  container: string;
  videoCodec: string | null;
  audioCodec: string | null;
  width: number;
  height: number;
  rotation: number;
  fps: number;
  variableFrameRate: boolean;
  durationUs: number;
  sampleRate: number | null;
  channels: number | null;
}

export interface ClipAudioMeta {
  /** 16 kHz samples: frames * 640. */
  samples: number;
  /** Share of the clip's span that had audio. */
  coverage: number;
  features: AudioFeatureConfig;
  /** [tokens, dim] per frame. */
  tokenShape: [number, number];
}

export interface ClipLatentMeta {
  /** Which encoder made them (the VAE's id or a stand-in's). */
  encoder: string;
  /** [channels, height, width] of one frame's latents. */
  shape: [number, number, number];
  frames: number;
}

export interface ClipMeta {
  id: string;
  datasetId: string;
  name: string;
  bytes: number;
  addedAt: number;
  source: ClipSource;
  box: FaceBox;
  /** Frames at the dataset's fps. */
  frames: number;
  resolution: number;
  audio: ClipAudioMeta | null;
  latents: ClipLatentMeta | null;
  warnings: string[];
  /** Bytes of this clip's records (frames, audio, latents). */
  storedBytes: number;
}

export interface AudioRecord {
  clipId: string;
  /** 16 kHz mono. */
  pcm: Float32Array;
  /** log-mel [nMels, frames * 4] or encoder states [steps, layers, dim]. */
  features: Float32Array;
  featureShape: number[];
}

export interface FramesRecord {
  clipId: string;
  chunk: number;
  count: number;
  /** count x [size, size, 3] bytes. */
  rgb: Uint8Array;
}

export interface LatentsRecord {
  clipId: string;
  chunk: number;
  count: number;
  /** count x [c, h, w]. */
  latents: Float32Array;
  /** count x [c, h, w]: latents of the frames with the lower face masked. */
  masked: Float32Array;
}

interface Schema extends DBSchema {
  datasets: { key: string; value: DatasetMeta };
  clips: { key: string; value: ClipMeta; indexes: { dataset: string } };
  frames: { key: [string, number]; value: FramesRecord };
  latents: { key: [string, number]; value: LatentsRecord };
  audio: { key: string; value: AudioRecord };
}

export interface StorageReport {
  /** navigator.storage.estimate(): the origin's usage and quota (null where unavailable). */
  usage: number | null;
  quota: number | null;
  persisted: boolean | null;
  /** Bytes of each dataset's clips, by our own count. */
  datasets: { id: string; name: string; clips: number; bytes: number }[];
}

/** Every key of one clip in a [clipId, n] store. */
const clipRange = (clipId: string) => IDBKeyRange.bound([clipId], [clipId, []]);

const newId = () => (globalThis.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`);

export class DatasetStore {
  private constructor(private readonly db: IDBPDatabase<Schema>) {}

  static async open(name = DB_NAME): Promise<DatasetStore> {
    const db = await openDB<Schema>(name, DB_VERSION, {
      upgrade(db) {
        db.createObjectStore('datasets', { keyPath: 'id' });
        db.createObjectStore('clips', { keyPath: 'id' }).createIndex('dataset', 'datasetId');
        db.createObjectStore('frames', { keyPath: ['clipId', 'chunk'] });
        db.createObjectStore('latents', { keyPath: ['clipId', 'chunk'] });
        db.createObjectStore('audio', { keyPath: 'clipId' });
      },
      blocking() {
        // a newer version wants the database: let it have it
        db.close();
      },
    });
    return new DatasetStore(db);
  }

  close(): void {
    this.db.close();
  }

  // ---- datasets

  async createDataset(name: string, config: DatasetConfig): Promise<DatasetMeta> {
    const meta: DatasetMeta = { id: newId(), name, createdAt: Date.now(), config, clipIds: [] };
    await this.db.put('datasets', meta);
    return meta;
  }

  async listDatasets(): Promise<DatasetMeta[]> {
    return (await this.db.getAll('datasets')).sort((a, b) => a.createdAt - b.createdAt);
  }

  async getDataset(id: string): Promise<DatasetMeta | undefined> {
    return this.db.get('datasets', id);
  }

  async renameDataset(id: string, name: string): Promise<DatasetMeta> {
    const tx = this.db.transaction('datasets', 'readwrite');
    const meta = await tx.store.get(id);
    if (!meta) throw new Error(`no dataset ${id}`);
    meta.name = name;
    await tx.store.put(meta);
    await tx.done;
    return meta;
  }

  /** Deletes a dataset and all its clips. */
  async deleteDataset(id: string): Promise<void> {
    const meta = await this.getDataset(id);
    if (!meta) return;
    for (const clipId of meta.clipIds) await this.deleteClip(clipId);
    await this.db.delete('datasets', id);
  }

  // ---- clips

  async listClips(datasetId: string): Promise<ClipMeta[]> {
    const ds = await this.getDataset(datasetId);
    const clips = await this.db.getAllFromIndex('clips', 'dataset', datasetId);
    const order = new Map(ds?.clipIds.map((id, i) => [id, i]));
    return clips.sort((a, b) => (order.get(a.id) ?? 1e9) - (order.get(b.id) ?? 1e9));
  }

  async getClip(id: string): Promise<ClipMeta | undefined> {
    return this.db.get('clips', id);
  }

  newClipId(): string {
    return newId();
  }

  async putFrames(rec: FramesRecord): Promise<void> {
    await this.db.put('frames', rec);
  }

  async putAudio(rec: AudioRecord): Promise<void> {
    await this.db.put('audio', rec);
  }

  async putLatents(rec: LatentsRecord): Promise<void> {
    await this.db.put('latents', rec);
  }

  /** Lists a fully written clip in its dataset: the last write of an ingest. */
  async commitClip(meta: ClipMeta): Promise<void> {
    const tx = this.db.transaction(['datasets', 'clips'], 'readwrite');
    const ds = await tx.objectStore('datasets').get(meta.datasetId);
    if (!ds) {
      tx.abort();
      throw new Error(`dataset ${meta.datasetId} is gone`);
    }
    if (!ds.clipIds.includes(meta.id)) ds.clipIds.push(meta.id);
    await Promise.all([tx.objectStore('clips').put(meta), tx.objectStore('datasets').put(ds), tx.done]);
  }

  /** Replaces a listed clip's metadata (latents cached, box changed). */
  async updateClip(meta: ClipMeta): Promise<void> {
    await this.db.put('clips', meta);
  }

  /** Removes a clip's records, its metadata and its place in its dataset, all in one transaction. */
  async deleteClip(id: string): Promise<void> {
    const tx = this.db.transaction(['datasets', 'clips', 'frames', 'latents', 'audio'], 'readwrite');
    const meta = await tx.objectStore('clips').get(id);
    const ops: Promise<unknown>[] = [
      tx.objectStore('frames').delete(clipRange(id)),
      tx.objectStore('latents').delete(clipRange(id)),
      tx.objectStore('audio').delete(id),
      tx.objectStore('clips').delete(id),
    ];
    if (meta) {
      const ds = await tx.objectStore('datasets').get(meta.datasetId);
      if (ds) {
        ds.clipIds = ds.clipIds.filter((c) => c !== id);
        ops.push(tx.objectStore('datasets').put(ds));
      }
    }
    await Promise.all([...ops, tx.done]);
  }

  /** Removes the records of a clip that was never committed (a failed or cancelled ingest). */
  async discardClipData(id: string): Promise<void> {
    const tx = this.db.transaction(['frames', 'latents', 'audio'], 'readwrite');
    await Promise.all([tx.objectStore('frames').delete(clipRange(id)), tx.objectStore('latents').delete(clipRange(id)), tx.objectStore('audio').delete(id), tx.done]);
  }

  async dropLatents(id: string): Promise<void> {
    await this.db.delete('latents', clipRange(id));
  }

  /** Deletes records whose clip has no metadata (left by an ingest that never finished). */
  async gc(): Promise<number> {
    const known = new Set(await this.db.getAllKeys('clips'));
    const orphans = new Set<string>();
    for (const k of await this.db.getAllKeys('frames')) if (!known.has(k[0])) orphans.add(k[0]);
    for (const k of await this.db.getAllKeys('latents')) if (!known.has(k[0])) orphans.add(k[0]);
    for (const k of await this.db.getAllKeys('audio')) if (!known.has(k)) orphans.add(k);
    for (const id of orphans) await this.discardClipData(id);
    return orphans.size;
  }

  // ---- reading

  /** Frames [from, from + count) as one RGB buffer (count x [size, size, 3]). */
  async readFrames(clipId: string, from: number, count: number, frameBytes: number): Promise<Uint8Array> {
    const out = new Uint8Array(count * frameBytes);
    const first = Math.floor(from / FRAMES_PER_CHUNK), last = Math.floor((from + count - 1) / FRAMES_PER_CHUNK);
    const recs = await this.db.getAll('frames', IDBKeyRange.bound([clipId, first], [clipId, last]));
    for (const r of recs) {
      const base = r.chunk * FRAMES_PER_CHUNK;
      const lo = Math.max(from, base), hi = Math.min(from + count, base + r.count);
      if (hi > lo) out.set(r.rgb.subarray((lo - base) * frameBytes, (hi - base) * frameBytes), (lo - from) * frameBytes);
    }
    return out;
  }

  async frameChunks(clipId: string): Promise<number> {
    return this.db.count('frames', clipRange(clipId));
  }

  async readAudio(clipId: string): Promise<AudioRecord | undefined> {
    return this.db.get('audio', clipId);
  }

  async readLatents(clipId: string): Promise<LatentsRecord[]> {
    return this.db.getAll('latents', clipRange(clipId));
  }

  async storage(): Promise<StorageReport> {
    let usage: number | null = null, quota: number | null = null, persisted: boolean | null = null;
    const storage = (globalThis.navigator as Navigator | undefined)?.storage;
    if (storage?.estimate) {
      const e = await storage.estimate();
      usage = e.usage ?? null;
      quota = e.quota ?? null;
    }
    if (storage?.persisted) persisted = await storage.persisted().catch(() => null);
    const datasets = [];
    for (const ds of await this.listDatasets()) {
      const clips = await this.listClips(ds.id);
      datasets.push({ id: ds.id, name: ds.name, clips: clips.length, bytes: clips.reduce((s, c) => s + c.storedBytes, 0) });
    }
    return { usage, quota, persisted, datasets };
  }

  /** A clip's latents, masks and audio tokens as the trainer takes them (src/train/sample.ts). */
  async clipLatents(clipId: string): Promise<ClipLatents> {
    const meta = await this.getClip(clipId);
    if (!meta) throw new Error(`no clip ${clipId}`);
    const ds = await this.getDataset(meta.datasetId);
    if (!ds) throw new Error(`clip ${meta.name} has no dataset`);
    if (!meta.latents || meta.latents.frames !== meta.frames) {
      throw new Error(`${meta.name} has no cached latents yet: encode the dataset with the VAE first.`);
    }
    const [c, h, w] = meta.latents.shape;
    const per = c * h * w;
    const latents = new Float32Array(meta.frames * per), masked = new Float32Array(meta.frames * per);
    for (const r of await this.readLatents(clipId)) {
      latents.set(r.latents.subarray(0, r.count * per), r.chunk * FRAMES_PER_CHUNK * per);
      masked.set(r.masked.subarray(0, r.count * per), r.chunk * FRAMES_PER_CHUNK * per);
    }
    const audioRec = meta.audio ? await this.readAudio(clipId) : undefined;
    const { config } = ds;
    const audio = audioTokenReader(meta, audioRec, config);
    return {
      id: meta.id,
      frames: meta.frames,
      shape: [c, h, w],
      latents: (f) => latents.subarray(f * per, (f + 1) * per),
      maskedLatents: (f) => masked.subarray(f * per, (f + 1) * per),
      // at the latents' own size: the loaded VAE's factor (8 for sd-vae, less for tiny test VAEs)
      mask: nearestDownsample(pixelMask(config.resolution, config.mask), config.resolution, h),
      audio,
      audioShape: meta.audio?.tokenShape ?? audioShapeOf(config),
    };
  }
}

/** [tokens, dim] per frame that a dataset's audio features give. */
export function audioShapeOf(config: DatasetConfig): [number, number] {
  return config.audio.kind === 'encoder'
    ? tokenShape('encoder', config.audio.layers, config.audio.dim, config.window)
    : tokenShape('logmel', config.audio.nMels, config.window);
}

function audioTokenReader(meta: ClipMeta, rec: AudioRecord | undefined, config: DatasetConfig): (f: number) => Float32Array | null {
  if (!meta.audio || !rec) return () => null;
  const f = meta.audio.features;
  if (f.kind === 'encoder') {
    const [steps, layers, dim] = rec.featureShape as [number, number, number];
    const states = { data: rec.features, steps, layers, dim };
    return (k) => encoderTokens(states, k, config.fps, config.window);
  }
  const [nMels, nFrames] = rec.featureShape as [number, number];
  return (k) => melTokens(rec.features, nMels, nFrames, k, config.fps, config.window);
}
