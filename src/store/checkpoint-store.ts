// Checkpoints of training runs, tensor by tensor, with a manifest written last.
//
// A checkpoint is a list of blobs (each state tensor, and the loss history) cut into parts of at most
// PART_BYTES, written in batches of small transactions (no single giant structured clone), then its
// manifest, in a transaction that first checks every part is there. Listing reads manifests only, so a
// checkpoint is whole or absent: parts without a manifest (a closed tab, a failed write) are never
// listed and are collected by gc(). Deleting removes the manifest first, then the parts.
//
// Backends: IndexedDB via idb (the worker), a directory of files (Node: src/store/checkpoint-dir.ts) and
// memory (tests). A full disk (QuotaExceededError, ENOSPC) becomes a CheckpointQuotaError that says what
// to do; the failed checkpoint's parts are removed and earlier checkpoints are never touched.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { fmtBytes } from '../gpu/memory/bytes.ts';
import { crc32 } from '../io/zip.ts';
import { pruneSelection } from '../train/autosave.ts';
import type { LossPoint, SnapshotSource, TensorInfo, TrainingState } from '../train/checkpoint-state.ts';

export const CHECKPOINT_DB = 'latent-lab-checkpoints';
export const CHECKPOINT_STORE_FORMAT = 1;
/** Largest part of a blob: big tensors are split so no single value is huge. */
export const PART_BYTES = 16 * 1024 * 1024;
/** Parts are written in transactions of about this many bytes. */
export const BATCH_BYTES = 32 * 1024 * 1024;
export const LOSS_HISTORY = 'loss-history';

export interface StoredBlob {
  name: string;
  /** F32: a state tensor; F64: [n, 2] (step, loss) pairs. */
  dtype: 'F32' | 'F64';
  shape: number[];
  bytes: number;
  parts: number;
  crc32: number;
}

export interface CheckpointManifest {
  id: string;
  format: number;
  createdAt: number;
  /** Applied optimizer steps. */
  step: number;
  label: string;
  pinned: boolean;
  /** Written by autosave (pruned with the run's others) or by hand. */
  auto: boolean;
  runId: string;
  datasetId: string | null;
  preset: string;
  state: TrainingState;
  lossCount: number;
  lastLoss: number | null;
  /** In write order; a part's key holds the blob's index here. */
  blobs: StoredBlob[];
  bytes: number;
}

export interface PartRecord {
  blob: number;
  part: number;
  data: Uint8Array;
}

/** Where the bytes go. Each method is one atomic unit of the medium (a transaction, a rename). */
export interface CheckpointBackend {
  putParts(id: string, parts: readonly PartRecord[]): Promise<void>;
  getPart(id: string, blob: number, part: number): Promise<Uint8Array | undefined>;
  /** The commit point: writes the manifest only if all `partCount` parts of its id are stored. */
  commit(manifest: CheckpointManifest, partCount: number): Promise<void>;
  /** Replaces an existing manifest (pinning, renaming); false when it is gone. */
  updateManifest(id: string, change: (m: CheckpointManifest) => CheckpointManifest): Promise<boolean>;
  listManifests(): Promise<CheckpointManifest[]>;
  getManifest(id: string): Promise<CheckpointManifest | undefined>;
  deleteManifest(id: string): Promise<void>;
  /** Ids that have parts, with a manifest or not. */
  partIds(): Promise<string[]>;
  deleteParts(id: string): Promise<void>;
  close?(): void;
}

/** The disk or the browser's storage is full. */
export class CheckpointQuotaError extends Error {
  override name = 'CheckpointQuotaError';
  constructor(
    readonly step: number,
    readonly needed: number,
    readonly usage: number | null,
    readonly quota: number | null,
    override readonly cause?: unknown,
  ) {
    const used = usage !== null && quota !== null ? ` (${fmtBytes(usage)} of ${fmtBytes(quota)} in use)` : '';
    super(
      `Not enough storage to save the checkpoint at step ${step}: it needs ${fmtBytes(needed)}${used}. ` +
        `Earlier checkpoints are intact and training goes on. Delete unpinned checkpoints or datasets you no longer need, ` +
        `keep fewer autosaves, or export the run to a file and delete it here.`,
    );
  }
}

/** A stored checkpoint that fails its own checks (a missing part, a wrong length or checksum). */
export class CheckpointDamagedError extends Error {
  override name = 'CheckpointDamagedError';
  constructor(
    readonly id: string,
    what: string,
  ) {
    super(`Checkpoint ${id} is damaged: ${what}. Restore an earlier checkpoint, or delete this one.`);
  }
}

export function isQuotaError(e: unknown): boolean {
  const err = e as { name?: string; code?: string | number; inner?: unknown } | null;
  if (!err) return false;
  return err.name === 'QuotaExceededError' || err.code === 'ENOSPC' || err.code === 'EDQUOT' || err.code === 22;
}

/** A checkpoint as read back: everything restore() needs, read tensor by tensor. */
export interface StoredCheckpoint extends SnapshotSource {
  manifest: CheckpointManifest;
  lossHistory(): Promise<LossPoint[]>;
  /** Reads and checks every blob (lengths and CRC-32); throws CheckpointDamagedError. */
  verify(): Promise<void>;
}

export interface StorageReport {
  usage: number | null;
  quota: number | null;
  persisted: boolean | null;
  checkpoints: number;
  /** Bytes of every stored checkpoint, by our own count. */
  checkpointBytes: number;
}

/** What save() writes: a host snapshot (capture), or one that reads each tensor when asked (streaming). */
export type SaveableSnapshot = SnapshotSource & { lossHistory: readonly LossPoint[] };

export interface SaveOptions {
  auto?: boolean;
  pinned?: boolean;
  label?: string;
}

const LOCK = 'latent-lab-checkpoint-writes';
type Locks = { request<T>(name: string, opts: { mode?: 'shared' | 'exclusive'; ifAvailable?: boolean }, cb: (lock: unknown) => Promise<T>): Promise<T> };
const locks = (): Locks | undefined => (globalThis.navigator as { locks?: Locks } | undefined)?.locks;

export class CheckpointStore {
  /** Ids being written by this store: gc never touches them. */
  private readonly writing = new Set<string>();
  /** Test hook: runs after each part batch is written (e.g. to close a page mid-save). */
  afterBatch: ((id: string, written: number, total: number) => Promise<void> | void) | null = null;

  readonly partBytes: number;
  readonly batchBytes: number;

  constructor(
    readonly backend: CheckpointBackend,
    opts: { partBytes?: number; batchBytes?: number } = {},
  ) {
    this.partBytes = opts.partBytes ?? PART_BYTES;
    this.batchBytes = opts.batchBytes ?? BATCH_BYTES;
    if (!(this.partBytes > 0 && this.partBytes % 8 === 0)) throw new RangeError(`part size ${this.partBytes} must be a positive multiple of 8`);
  }

  /** The browser's store (IndexedDB); collects what unfinished saves left. */
  static async openIdb(name = CHECKPOINT_DB): Promise<CheckpointStore> {
    const store = new CheckpointStore(await IdbCheckpointBackend.open(name));
    await store.gc();
    void store.persist(); // ask once; the browser decides (and may ask the user)
    return store;
  }

  /** IndexedDB where it exists (browsers, workers), memory elsewhere (Node: nothing outlives the process). */
  static openDefault(): Promise<CheckpointStore> {
    return typeof globalThis.indexedDB === 'undefined' ? Promise.resolve(CheckpointStore.memory()) : CheckpointStore.openIdb();
  }

  static memory(opts?: { partBytes?: number; batchBytes?: number }): CheckpointStore {
    return new CheckpointStore(new MemoryCheckpointBackend(), opts);
  }

  close(): void {
    this.backend.close?.();
  }

  /**
   * Writes a snapshot; resolves with its manifest once it is whole. On failure nothing of it stays
   * listed, its parts are removed, and a full store throws CheckpointQuotaError.
   */
  async save(snap: SaveableSnapshot, opts: SaveOptions = {}): Promise<CheckpointManifest> {
    const l = locks();
    return l ? l.request(LOCK, { mode: 'shared' }, () => this.write(snap, opts)) : this.write(snap, opts);
  }

  private async write(snap: SaveableSnapshot, opts: SaveOptions): Promise<CheckpointManifest> {
    const step = snap.state.trainer.step;
    const id = `ckpt-${String(step).padStart(8, '0')}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const history = new Float64Array(snap.lossHistory.length * 2);
    snap.lossHistory.forEach((p, i) => history.set([p.step, p.loss], 2 * i));
    // Blobs are read one at a time: a snapshot that reads from the GPU on demand streams through here.
    const sources: { info: Omit<StoredBlob, 'parts' | 'crc32' | 'bytes'>; bytes: number; read: () => Promise<Uint8Array> }[] = [
      ...snap.tensors.map((t) => ({
        info: { name: t.name, dtype: 'F32' as const, shape: [...t.shape] },
        bytes: t.shape.reduce((a, b) => a * b, 1) * 4,
        read: async () => {
          const d = await snap.read(t.name);
          return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
        },
      })),
      { info: { name: LOSS_HISTORY, dtype: 'F64' as const, shape: [snap.lossHistory.length, 2] }, bytes: history.byteLength, read: async () => new Uint8Array(history.buffer) },
    ];
    const total = sources.reduce((a, s) => a + s.bytes, 0);

    this.writing.add(id);
    try {
      const blobs: StoredBlob[] = [];
      let batch: PartRecord[] = [];
      let batchBytes = 0;
      let written = 0;
      let partCount = 0;
      const flush = async () => {
        if (!batch.length) return;
        await this.backend.putParts(id, batch);
        written += batchBytes;
        batch = [];
        batchBytes = 0;
        await this.afterBatch?.(id, written, total);
      };
      for (const [index, s] of sources.entries()) {
        const bytes = await s.read();
        if (bytes.byteLength !== s.bytes) throw new Error(`${s.info.name}: ${bytes.byteLength} bytes for shape [${s.info.shape.join(', ')}]`);
        const size = this.partBytes;
        const parts = Math.max(1, Math.ceil(bytes.byteLength / size));
        let crc = 0;
        for (let k = 0; k < parts; k++) {
          const data = bytes.subarray(k * size, Math.min(bytes.byteLength, (k + 1) * size));
          crc = crc32(data, crc);
          batch.push({ blob: index, part: k, data });
          batchBytes += data.byteLength;
          if (batchBytes >= this.batchBytes) await flush();
        }
        partCount += parts;
        blobs.push({ ...s.info, bytes: s.bytes, parts, crc32: crc });
      }
      await flush();
      const last = snap.lossHistory.at(-1);
      const manifest: CheckpointManifest = {
        id,
        format: CHECKPOINT_STORE_FORMAT,
        createdAt: Date.now(),
        step,
        label: opts.label ?? `step ${step}`,
        pinned: opts.pinned ?? false,
        auto: opts.auto ?? false,
        runId: snap.state.runId,
        datasetId: snap.state.datasetId,
        preset: snap.state.config.preset,
        state: snap.state,
        lossCount: snap.lossHistory.length,
        lastLoss: last ? last.loss : null,
        blobs,
        bytes: total,
      };
      await this.backend.commit(manifest, partCount);
      return manifest;
    } catch (e) {
      await this.backend.deleteParts(id).catch(() => undefined);
      if (isQuotaError(e)) {
        const s = await this.estimate();
        throw new CheckpointQuotaError(step, total, s.usage, s.quota, e);
      }
      throw e;
    } finally {
      this.writing.delete(id);
    }
  }

  /** Whole checkpoints, oldest first. */
  async list(): Promise<CheckpointManifest[]> {
    const all = await this.backend.listManifests();
    return all.filter((m) => m.format === CHECKPOINT_STORE_FORMAT).sort((a, b) => a.createdAt - b.createdAt || a.step - b.step);
  }

  /** The newest checkpoint (of one run, when given). */
  async latest(runId?: string): Promise<CheckpointManifest | undefined> {
    const all = (await this.list()).filter((m) => runId === undefined || m.runId === runId);
    return all.sort((a, b) => b.step - a.step || b.createdAt - a.createdAt)[0];
  }

  async open(id: string): Promise<StoredCheckpoint> {
    const manifest = await this.backend.getManifest(id);
    if (!manifest) throw new Error(`There is no checkpoint ${id} (it was deleted, or its save never finished).`);
    if (manifest.format !== CHECKPOINT_STORE_FORMAT) throw new CheckpointDamagedError(id, `store format ${manifest.format}; this version reads ${CHECKPOINT_STORE_FORMAT}`);
    const index = new Map(manifest.blobs.map((b, i) => [b.name, i]));
    const readBlob = async (i: number): Promise<Uint8Array> => {
      const b = manifest.blobs[i];
      const out = new Uint8Array(b.bytes);
      let at = 0;
      let crc = 0;
      for (let k = 0; k < b.parts; k++) {
        const part = await this.backend.getPart(id, i, k);
        if (!part) throw new CheckpointDamagedError(id, `part ${k} of ${b.name} is missing`);
        if (at + part.byteLength > b.bytes) throw new CheckpointDamagedError(id, `${b.name} has more bytes than its ${b.bytes}`);
        out.set(part, at);
        crc = crc32(part, crc);
        at += part.byteLength;
      }
      if (at !== b.bytes) throw new CheckpointDamagedError(id, `${b.name} has ${at} of its ${b.bytes} bytes`);
      if (crc !== b.crc32) throw new CheckpointDamagedError(id, `${b.name} fails its CRC-32 check`);
      return out;
    };
    const tensors: TensorInfo[] = manifest.blobs.filter((b) => b.dtype === 'F32').map((b) => ({ name: b.name, shape: b.shape }));
    return {
      manifest,
      state: manifest.state,
      tensors,
      async read(name) {
        const i = index.get(name);
        if (i === undefined || manifest.blobs[i].dtype !== 'F32') throw new Error(`checkpoint ${id} has no tensor "${name}"`);
        return new Float32Array((await readBlob(i)).buffer);
      },
      async lossHistory() {
        const i = index.get(LOSS_HISTORY);
        if (i === undefined) return [];
        const v = new Float64Array((await readBlob(i)).buffer);
        return Array.from({ length: v.length / 2 }, (_, k) => ({ step: v[2 * k], loss: v[2 * k + 1] }));
      },
      async verify() {
        for (let i = 0; i < manifest.blobs.length; i++) await readBlob(i);
      },
    };
  }

  async pin(id: string, pinned = true): Promise<CheckpointManifest> {
    let out: CheckpointManifest | undefined;
    const ok = await this.backend.updateManifest(id, (m) => (out = { ...m, pinned }));
    if (!ok || !out) throw new Error(`There is no checkpoint ${id}.`);
    return out;
  }

  async rename(id: string, label: string): Promise<CheckpointManifest> {
    let out: CheckpointManifest | undefined;
    const ok = await this.backend.updateManifest(id, (m) => (out = { ...m, label }));
    if (!ok || !out) throw new Error(`There is no checkpoint ${id}.`);
    return out;
  }

  /** Unlists first (the manifest), then frees the parts: a crash in between leaves only orphans for gc. */
  async delete(id: string): Promise<void> {
    await this.backend.deleteManifest(id);
    await this.backend.deleteParts(id);
  }

  /** Deletes a run's unpinned checkpoints beyond the newest `keepLast`; returns the deleted ids. */
  async prune(runId: string, keepLast: number): Promise<string[]> {
    const ids = pruneSelection(await this.list(), runId, keepLast);
    for (const id of ids) await this.delete(id);
    return ids;
  }

  /**
   * Removes parts that no manifest lists (saves that never finished). Skipped while any save of this
   * origin is running (Web Locks), so another tab's save in progress is never collected.
   */
  async gc(): Promise<number> {
    const l = locks();
    if (!l) return this.collect();
    return l.request(LOCK, { mode: 'exclusive', ifAvailable: true }, async (lock) => (lock ? this.collect() : 0));
  }

  private async collect(): Promise<number> {
    const listed = new Set((await this.backend.listManifests()).map((m) => m.id));
    let n = 0;
    for (const id of await this.backend.partIds()) {
      if (listed.has(id) || this.writing.has(id)) continue;
      await this.backend.deleteParts(id);
      n++;
    }
    return n;
  }

  /** Asks the browser to keep this origin's storage under pressure (it may say no). */
  async persist(): Promise<boolean | null> {
    const storage = (globalThis.navigator as Navigator | undefined)?.storage;
    if (!storage?.persist) return null;
    return storage.persist().catch(() => null);
  }

  async estimate(): Promise<{ usage: number | null; quota: number | null; persisted: boolean | null }> {
    const storage = (globalThis.navigator as Navigator | undefined)?.storage;
    let usage: number | null = null;
    let quota: number | null = null;
    let persisted: boolean | null = null;
    if (storage?.estimate) {
      const e = await storage.estimate().catch(() => ({}) as StorageEstimate);
      usage = e.usage ?? null;
      quota = e.quota ?? null;
    }
    if (storage?.persisted) persisted = await storage.persisted().catch(() => null);
    return { usage, quota, persisted };
  }

  async storage(): Promise<StorageReport> {
    const list = await this.list();
    return { ...(await this.estimate()), checkpoints: list.length, checkpointBytes: list.reduce((a, m) => a + m.bytes, 0) };
  }
}

/** A fresh buffer holding exactly the view's bytes (what a structured clone should copy, no more). */
const ownBuffer = (v: Uint8Array): ArrayBuffer =>
  v.byteOffset === 0 && v.byteLength === v.buffer.byteLength && v.buffer instanceof ArrayBuffer ? v.buffer : v.slice().buffer;

// ---- IndexedDB

interface PartValue {
  id: string;
  blob: number;
  part: number;
  data: ArrayBuffer;
}

interface Schema extends DBSchema {
  manifests: { key: string; value: CheckpointManifest };
  parts: { key: [string, number, number]; value: PartValue };
}

/** Every part key of one checkpoint: [id] sorts before [id, n, m], and [id, []] after (arrays sort last). */
const partRange = (id: string) => IDBKeyRange.bound([id], [id, []]);

export class IdbCheckpointBackend implements CheckpointBackend {
  private constructor(private readonly db: IDBPDatabase<Schema>) {}

  static async open(name = CHECKPOINT_DB): Promise<IdbCheckpointBackend> {
    const db = await openDB<Schema>(name, 1, {
      upgrade(db) {
        db.createObjectStore('manifests', { keyPath: 'id' });
        db.createObjectStore('parts', { keyPath: ['id', 'blob', 'part'] });
      },
      blocking() {
        db.close();
      },
    });
    return new IdbCheckpointBackend(db);
  }

  close(): void {
    this.db.close();
  }

  async putParts(id: string, parts: readonly PartRecord[]): Promise<void> {
    const tx = this.db.transaction('parts', 'readwrite');
    // The request promises reject too when the transaction aborts; tx.done carries the cause.
    const puts = parts.map((p) => tx.store.put({ id, blob: p.blob, part: p.part, data: ownBuffer(p.data) }).catch(() => undefined));
    await Promise.all([...puts, tx.done]);
  }

  async getPart(id: string, blob: number, part: number): Promise<Uint8Array | undefined> {
    const v = await this.db.get('parts', [id, blob, part]);
    return v ? new Uint8Array(v.data) : undefined;
  }

  async commit(manifest: CheckpointManifest, partCount: number): Promise<void> {
    const tx = this.db.transaction(['parts', 'manifests'], 'readwrite');
    const n = await tx.objectStore('parts').count(partRange(manifest.id));
    if (n !== partCount) {
      tx.abort();
      await tx.done.catch(() => undefined);
      throw new Error(`checkpoint ${manifest.id}: ${n} of ${partCount} parts are stored (removed by another tab?); not committed`);
    }
    await Promise.all([tx.objectStore('manifests').put(manifest), tx.done]);
  }

  async updateManifest(id: string, change: (m: CheckpointManifest) => CheckpointManifest): Promise<boolean> {
    const tx = this.db.transaction('manifests', 'readwrite');
    const m = await tx.store.get(id);
    if (!m) {
      await tx.done;
      return false;
    }
    await Promise.all([tx.store.put(change(m)), tx.done]);
    return true;
  }

  listManifests(): Promise<CheckpointManifest[]> {
    return this.db.getAll('manifests');
  }

  getManifest(id: string): Promise<CheckpointManifest | undefined> {
    return this.db.get('manifests', id);
  }

  async deleteManifest(id: string): Promise<void> {
    await this.db.delete('manifests', id);
  }

  async partIds(): Promise<string[]> {
    const ids: string[] = [];
    let cursor = await this.db.transaction('parts').store.openKeyCursor();
    while (cursor) {
      const id = cursor.key[0];
      ids.push(id);
      cursor = await cursor.continue([id, []] as unknown as [string, number, number]); // skip the rest of this id
    }
    return ids;
  }

  async deleteParts(id: string): Promise<void> {
    await this.db.delete('parts', partRange(id));
  }
}

// ---- memory (tests, and the Node engine without a directory)

export class MemoryCheckpointBackend implements CheckpointBackend {
  readonly parts = new Map<string, Map<string, Uint8Array>>();
  readonly manifests = new Map<string, CheckpointManifest>();

  putParts(id: string, parts: readonly PartRecord[]): Promise<void> {
    const m = this.parts.get(id) ?? new Map<string, Uint8Array>();
    for (const p of parts) m.set(`${p.blob}/${p.part}`, p.data.slice()); // a copy, as a real medium keeps
    this.parts.set(id, m);
    return Promise.resolve();
  }

  getPart(id: string, blob: number, part: number): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.parts.get(id)?.get(`${blob}/${part}`)?.slice());
  }

  commit(manifest: CheckpointManifest, partCount: number): Promise<void> {
    const n = this.parts.get(manifest.id)?.size ?? 0;
    if (n !== partCount) return Promise.reject(new Error(`checkpoint ${manifest.id}: ${n} of ${partCount} parts are stored; not committed`));
    this.manifests.set(manifest.id, structuredClone(manifest));
    return Promise.resolve();
  }

  updateManifest(id: string, change: (m: CheckpointManifest) => CheckpointManifest): Promise<boolean> {
    const m = this.manifests.get(id);
    if (m) this.manifests.set(id, structuredClone(change(structuredClone(m))));
    return Promise.resolve(Boolean(m));
  }

  listManifests(): Promise<CheckpointManifest[]> {
    return Promise.resolve([...this.manifests.values()].map((m) => structuredClone(m)));
  }

  getManifest(id: string): Promise<CheckpointManifest | undefined> {
    const m = this.manifests.get(id);
    return Promise.resolve(m && structuredClone(m));
  }

  deleteManifest(id: string): Promise<void> {
    this.manifests.delete(id);
    return Promise.resolve();
  }

  partIds(): Promise<string[]> {
    return Promise.resolve([...this.parts.keys()]);
  }

  deleteParts(id: string): Promise<void> {
    this.parts.delete(id);
    return Promise.resolve();
  }
}
