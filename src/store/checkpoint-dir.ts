// Checkpoints in a directory (Node: CLI, tests), with the store's manifest-last rule:
//   <root>/<id>/<blob>-<part>.bin   the parts, each written and synced before the manifest
//   <root>/<id>/manifest.json       written to a temporary name, synced, then renamed: whole or absent
// Node only (node:fs); the browser uses IndexedDB (checkpoint-store.ts).
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointStore, type CheckpointBackend, type CheckpointManifest, type PartRecord } from './checkpoint-store.ts';

const MANIFEST = 'manifest.json';
/** Only directories named like the store's ids are ever listed or collected (never a user's own folders). */
const SAFE_ID = /^ckpt-[A-Za-z0-9_-]+$/;

function checkId(id: string): string {
  if (!SAFE_ID.test(id)) throw new Error(`invalid checkpoint id "${id}"`);
  return id;
}

async function writeSynced(path: string, data: Uint8Array | string): Promise<void> {
  const f = await open(path, 'w');
  try {
    await f.writeFile(data);
    await f.sync();
  } finally {
    await f.close();
  }
}

const exists = (p: string) => stat(p).then(() => true, () => false);

export class DirCheckpointBackend implements CheckpointBackend {
  constructor(readonly root: string) {}

  private dir(id: string): string {
    return join(this.root, checkId(id));
  }

  async putParts(id: string, parts: readonly PartRecord[]): Promise<void> {
    await mkdir(this.dir(id), { recursive: true });
    for (const p of parts) await writeSynced(join(this.dir(id), `${p.blob}-${p.part}.bin`), p.data);
  }

  async getPart(id: string, blob: number, part: number): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(join(this.dir(id), `${blob}-${part}.bin`)));
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async commit(manifest: CheckpointManifest, partCount: number): Promise<void> {
    const dir = this.dir(manifest.id);
    const n = (await readdir(dir)).filter((f) => f.endsWith('.bin')).length;
    if (n !== partCount) throw new Error(`checkpoint ${manifest.id}: ${n} of ${partCount} parts are stored; not committed`);
    await this.writeManifest(manifest);
  }

  private async writeManifest(m: CheckpointManifest): Promise<void> {
    const dir = this.dir(m.id);
    await writeSynced(join(dir, `${MANIFEST}.tmp`), JSON.stringify(m));
    await rename(join(dir, `${MANIFEST}.tmp`), join(dir, MANIFEST));
  }

  async updateManifest(id: string, change: (m: CheckpointManifest) => CheckpointManifest): Promise<boolean> {
    const m = await this.getManifest(id);
    if (!m) return false;
    await this.writeManifest(change(m));
    return true;
  }

  async listManifests(): Promise<CheckpointManifest[]> {
    const out: CheckpointManifest[] = [];
    for (const id of await this.partIds()) {
      const m = await this.getManifest(id);
      if (m) out.push(m);
    }
    return out;
  }

  async getManifest(id: string): Promise<CheckpointManifest | undefined> {
    try {
      const m = JSON.parse(await readFile(join(this.dir(id), MANIFEST), 'utf8')) as CheckpointManifest;
      return m && m.id === id ? m : undefined;
    } catch {
      return undefined; // absent, or not ours
    }
  }

  async deleteManifest(id: string): Promise<void> {
    await rm(join(this.dir(id), MANIFEST), { force: true });
  }

  async partIds(): Promise<string[]> {
    if (!(await exists(this.root))) return [];
    const entries = await readdir(this.root, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory() && SAFE_ID.test(e.name)).map((e) => e.name);
  }

  async deleteParts(id: string): Promise<void> {
    await rm(this.dir(id), { recursive: true, force: true });
  }
}

/** A store on a directory (created on the first save); collects unfinished saves when opened. */
export async function openDirStore(root: string): Promise<CheckpointStore> {
  const store = new CheckpointStore(new DirCheckpointBackend(root));
  await store.gc();
  return store;
}

/** True when `path` is one checkpoint's directory (it has a manifest). */
export const isCheckpointDir = (path: string): Promise<boolean> => exists(join(path, MANIFEST));
