import type { Remote } from 'comlink';
import * as Comlink from 'comlink';
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type {
  ClipMeta,
  ClipProbe,
  ClipReadiness,
  DatasetApi,
  DatasetMasks,
  DatasetMeta,
  EngineFailure,
  FaceBox,
  IngestProgress,
  LabEngine,
  StorageReport,
  VaeInfo,
} from '../worker/api.ts';
import { asFailure } from './engine-client.ts';
import { loadSetting, saveSetting } from './local-settings.ts';

const DATASET_KEY = 'latent-lab.dataset-id';
const VAE_KEY = 'latent-lab.vae-source';
const TRAIN_ON_KEY = 'latent-lab.train-on-dataset';
/** Where the demo clip and the demo models' manifest are served (public/demo/). */
export const DEMO_CLIP_URL = 'demo/demo.mp4';
export const DEMO_MODELS_URL = 'demo/demo-models.json';
/** A new dataset's resolution when the demo models do not say one. */
const FALLBACK_RESOLUTION = 256;

/** A picked file waiting for its face box: its probe and its first frame, or why it cannot be used. */
export interface PendingClip {
  file: Blob;
  name: string;
  probe: ClipProbe | null;
  box: FaceBox | null;
  /** Object URL of the file, for the first-frame preview under the box. */
  url: string;
  error: EngineFailure | null;
}

export type ClipsBusy = { action: 'probe' | 'add'; progress?: IngestProgress } | { action: 'cache'; done: number; total: number } | { action: 'vae' | 'remove' | 'dataset' } | null;

/**
 * The clips side of the page: the current dataset, its clips with thumbnails and readiness, the file
 * waiting to be added (probe and face box), the loaded VAE and the latent cache. Talks to the engine only
 * through worker/api.ts types; errors of a clip stay beside it, others go to the page's banner.
 */
export class ClipsController implements ReactiveController {
  dataset: DatasetMeta | null = null;
  clips: ClipMeta[] = [];
  readiness: ClipReadiness[] = [];
  thumbs = new Map<string, string>();
  masks: DatasetMasks | null = null;
  storage: StorageReport | null = null;
  vae: VaeInfo | null = null;
  pending: PendingClip | null = null;
  busy: ClipsBusy = null;
  /** The last failure of a clip action (add, cache, VAE), shown in the panel with what to do. */
  error: EngineFailure | null = null;
  /** Resolution the demo models were trained at (from their manifest), when served. */
  demoResolution: number | null = null;
  trainOn: boolean = loadSetting(TRAIN_ON_KEY) !== 'no';
  /** Frames a UNet sample takes (the training settings'): readiness is judged against it. */
  sampleFrames = 2;
  /** Resolution of the dataset the next clip starts, when there is none. */
  resolution = FALLBACK_RESOLUTION;
  /** The mask as an overlay image (generated region tinted), at the dataset's resolution. */
  maskOverlay: string | null = null;
  /** Bumped on every change: the panel re-renders on it. */
  version = 0;
  private api: Remote<DatasetApi> | null = null;

  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly report: (f: EngineFailure) => void,
  ) {
    host.addController(this);
  }

  hostConnected(): void {}

  private changed(): void {
    this.version++;
    this.host.requestUpdate();
  }

  hostDisconnected(): void {
    if (this.pending) URL.revokeObjectURL(this.pending.url);
  }

  get ready(): boolean {
    return this.api !== null;
  }

  /** The dataset a run trains on: the current one when the user chose to and a clip can train the UNet. */
  get trainingDatasetId(): string | null {
    return this.trainOn && this.dataset && this.readiness.some((r) => r.unet === null) ? this.dataset.id : null;
  }

  /** [tokens, width] of the training dataset's audio a frame (the run's model projects them to its width). */
  get trainingAudioShape(): [number, number] | null {
    if (!this.trainingDatasetId) return null;
    const ready = new Set(this.readiness.filter((r) => r.unet === null).map((r) => r.clipId));
    return this.clips.find((c) => ready.has(c.id))?.audio?.tokenShape ?? null;
  }

  async connect(engine: Remote<LabEngine>): Promise<void> {
    // Comlink reaches nested objects by path; its types do not follow non-function members.
    const api = engine.datasets as unknown as Remote<DatasetApi>;
    try {
      this.demoResolution = await demoResolution();
      this.resolution = this.newResolution;
      const list = await api.list();
      this.api = api;
      this.dataset = list.find((d) => d.id === loadSetting(DATASET_KEY)) ?? list[0] ?? null;
      this.vae = await api.vaeInfo();
      // The worker forgets its VAE on reload: load the one this page used last.
      if (!this.vae && loadSetting(VAE_KEY) === 'demo') await this.loadDemoVae();
    } catch (e) {
      this.report(asFailure(e));
    }
    await this.refresh();
  }

  setSampleFrames(frames: number): void {
    if (frames === this.sampleFrames) return;
    this.sampleFrames = frames;
    void this.refresh();
  }

  setTrainOn(on: boolean): void {
    this.trainOn = on;
    saveSetting(TRAIN_ON_KEY, on ? 'yes' : 'no');
    this.changed();
  }

  /** Reloads clips, readiness, masks, thumbnails and storage of the current dataset. */
  async refresh(): Promise<void> {
    const api = this.api;
    if (!api) return;
    try {
      const ds = this.dataset;
      if (ds) {
        this.dataset = (await api.list()).find((d) => d.id === ds.id) ?? null;
      }
      if (this.dataset) {
        const id = this.dataset.id;
        const keep = this.masks?.size === this.dataset.config.resolution;
        [this.clips, this.readiness, this.masks] = await Promise.all([api.clips(id), api.readiness(id, this.sampleFrames), keep ? this.masks : api.masks(id)]);
        if (!keep) this.maskOverlay = overlay(this.masks!);
        for (const c of this.clips) if (!this.thumbs.has(c.id)) this.thumbs.set(c.id, await thumbnail(api, c.id, Math.min(c.frames - 1, 12)));
      } else {
        this.clips = [];
        this.readiness = [];
        this.masks = null;
        this.maskOverlay = null;
      }
      this.storage = await api.storage();
    } catch (e) {
      this.report(asFailure(e));
    }
    this.changed();
  }

  /** A file was dropped or picked: probe it and propose the centred largest square as the face box. */
  pick = (file: Blob, name: string) => this.act({ action: 'probe' }, (api) => this.probe(api, file, name));

  /** The demo clip from public/demo, as if the user had dropped it. */
  pickDemo = () =>
    this.act({ action: 'probe' }, async (api) => {
      const r = await fetch(new URL(DEMO_CLIP_URL, document.baseURI));
      if (!r.ok) throw new Error(`The demo clip is not served here (HTTP ${r.status}): drop a clip of your own instead.`);
      await this.probe(api, await r.blob(), 'demo.mp4');
    });

  private async probe(api: Remote<DatasetApi>, file: Blob, name: string): Promise<void> {
    this.clearPending();
    // The dataset first: its resolution and mask are what the box preview shows.
    if (!this.dataset) await this.createDataset(api, this.resolution);
    if (!this.masks) {
      this.masks = await api.masks(this.dataset!.id);
      this.maskOverlay = overlay(this.masks);
    }
    const url = URL.createObjectURL(file);
    this.pending = { file, name, probe: null, box: null, url, error: null };
    try {
      const probe = await api.probe(file, name);
      const { displayWidth: w, displayHeight: h } = probe.video;
      const size = Math.min(w, h);
      this.pending = { ...this.pending, probe, box: { x: Math.floor((w - size) / 2), y: Math.floor((h - size) / 2), size } };
    } catch (e) {
      // A file that cannot be used says why beside its name (a broken file, an unknown codec).
      this.pending = { ...this.pending, error: asFailure(e) };
    }
  }

  moveBox(box: FaceBox): void {
    if (!this.pending?.box) return;
    this.pending = { ...this.pending, box };
    this.changed();
  }

  cancelPending = () => {
    this.clearPending();
    this.changed();
  };

  /** Adds the pending clip with its box; the dataset is made first when there is none. */
  add = () =>
    this.act({ action: 'add' }, async (api) => {
      const p = this.pending;
      if (!p?.probe || !p.box) return;
      if (!this.dataset) await this.createDataset(api, this.resolution);
      const onProgress = Comlink.proxy((progress: IngestProgress) => {
        this.busy = { action: 'add', progress };
        this.changed();
      });
      try {
        await api.addClip(this.dataset!.id, p.file, { name: p.name, box: p.box }, onProgress);
        this.clearPending();
      } catch (e) {
        // The clip's own failure stays beside it, with what to do.
        this.pending = { ...p, error: asFailure(e) };
      }
    });

  removeClip = (clipId: string) =>
    this.act({ action: 'remove' }, async (api) => {
      await api.removeClip(clipId);
      this.thumbs.delete(clipId);
    });

  /** Removes the dataset and its clips; the next clip starts a new one (at a newly chosen resolution). */
  removeDataset = () =>
    this.act({ action: 'dataset' }, async (api) => {
      if (!this.dataset) return;
      await api.remove(this.dataset.id);
      this.dataset = null;
      this.masks = null;
      this.maskOverlay = null;
      this.thumbs.clear();
      saveSetting(DATASET_KEY, null);
    });

  loadDemoVae = () =>
    this.act({ action: 'vae' }, async (api) => {
      const info = await api.loadDemoVae(new URL(DEMO_MODELS_URL, document.baseURI).href);
      this.vae = info;
      saveSetting(VAE_KEY, 'demo');
    });

  loadVaeFile = (file: File, preset: string) =>
    this.act({ action: 'vae' }, async (api) => {
      this.vae = await api.loadVae(await file.arrayBuffer(), preset);
      saveSetting(VAE_KEY, 'file');
    });

  cacheLatents = () =>
    this.act({ action: 'cache', done: 0, total: 0 }, async (api) => {
      if (!this.dataset) return;
      const frames = this.clips.reduce((n, c) => n + c.frames, 0);
      const before = new Map(this.clips.map((c, i) => [i, this.clips.slice(0, i).reduce((n, x) => n + x.frames, 0)]));
      const onProgress = Comlink.proxy((p: { clip: number; done: number }) => {
        this.busy = { action: 'cache', done: (before.get(p.clip) ?? 0) + p.done, total: frames };
        this.changed();
      });
      await api.cacheLatents(this.dataset.id, {}, onProgress);
    });

  dismissError(): void {
    this.error = null;
    this.changed();
  }

  private async createDataset(api: Remote<DatasetApi>, resolution: number): Promise<void> {
    this.dataset = await api.create('My clips', { resolution });
    saveSetting(DATASET_KEY, this.dataset.id);
  }

  private clearPending(): void {
    if (this.pending) URL.revokeObjectURL(this.pending.url);
    this.pending = null;
  }

  /** Runs one action at a time; its failure shows in the panel (and the banner keeps it too). */
  private async act(busy: NonNullable<ClipsBusy>, fn: (api: Remote<DatasetApi>) => Promise<void>): Promise<void> {
    if (!this.api || this.busy) return;
    this.busy = busy;
    this.error = null;
    this.changed();
    try {
      await fn(this.api);
    } catch (e) {
      this.error = asFailure(e);
    } finally {
      this.busy = null;
      this.changed();
    }
    await this.refresh();
  }

  /** Default resolution of a new dataset: the demo models' (so the demo VAE fits), else 256 px. */
  get newResolution(): number {
    return this.demoResolution ?? FALLBACK_RESOLUTION;
  }
}

/** The demo models' resolution from their manifest, or null when they are not served. */
async function demoResolution(): Promise<number | null> {
  try {
    const r = await fetch(new URL(DEMO_MODELS_URL, document.baseURI));
    if (!r.ok) return null;
    const m = (await r.json()) as { vae?: { resolution?: number }; unet?: { resolution?: number } };
    return m.vae?.resolution ?? m.unet?.resolution ?? null;
  } catch {
    return null;
  }
}

/** The pixel mask as an image: the generated (masked) region tinted, the kept region clear. */
function overlay(m: DatasetMasks): string {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = m.size;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(m.size, m.size);
  for (let i = 0; i < m.pixel.length; i++) {
    if (m.pixel[i]! >= 0.5) continue;
    img.data.set([239, 68, 68, 110], i * 4);
  }
  ctx.putImageData(img, 0, 0);
  return canvas.toDataURL();
}

/** One stored frame as a data URL (RGB bytes onto a canvas). */
async function thumbnail(api: Remote<DatasetApi>, clipId: string, index: number): Promise<string> {
  const { size, rgb } = await api.frame(clipId, Math.max(0, index));
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = size;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(size, size);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    img.data[j] = rgb[i]!;
    img.data[j + 1] = rgb[i + 1]!;
    img.data[j + 2] = rgb[i + 2]!;
    img.data[j + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return canvas.toDataURL();
}
