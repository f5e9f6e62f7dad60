import type { Remote } from 'comlink';
import * as Comlink from 'comlink';
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { failure, type ClipProbe, type DatasetApi, type EngineFailure, type FaceBox, type LabEngine, type SyncApi, type SyncModelInfo, type SyncRunProgress, type SyncRunResult } from '../worker/api.ts';
import { DEMO_CLIP_URL, DEMO_MODELS_URL } from './clips-controller.ts';
import { asFailure } from './engine-client.ts';

export interface SyncSettings {
  steps: number;
  guidance: number;
  seed: number;
  /** Only the first this many seconds of the audio; null for all of it. */
  maxSeconds: number | null;
  /** The face box in the video's display pixels; null for the centred largest square. */
  box: FaceBox | null;
}

/** LatentSync's inference defaults. */
export const DEFAULT_SYNC_SETTINGS: SyncSettings = { steps: 20, guidance: 1.5, seed: 1247, maxSeconds: null, box: null };

export type SyncBusy = 'models' | 'clip' | 'run' | null;

/** A picked input: the file and the name shown (the demo clip is fetched, so it has no File name). */
export interface SyncPick {
  blob: Blob;
  name: string;
  /** What the file holds (size, duration, audio), once read; null while reading or when it cannot be read. */
  probe?: ClipProbe | null;
}

/**
 * The lip-sync side of the page: models, the picked video and audio, one run with its progress, the
 * finished file as an object URL (revoked when replaced), and the last failure shown in the panel.
 * Talks to the engine only through api.ts types.
 */
export class SyncController implements ReactiveController {
  models: SyncModelInfo | null = null;
  video: SyncPick | null = null;
  audio: SyncPick | null = null;
  settings: SyncSettings = { ...DEFAULT_SYNC_SETTINGS };
  busy: SyncBusy = null;
  progress: SyncRunProgress | null = null;
  result: (SyncRunResult & { url: string }) | null = null;
  error: EngineFailure | null = null;
  cancelling = false;
  /** Bumped on every change, so a panel given this controller re-renders. */
  version = 0;
  private api: Remote<SyncApi> | null = null;
  private datasets: Remote<DatasetApi> | null = null;

  constructor(private readonly host: ReactiveControllerHost) {
    host.addController(this);
  }

  hostConnected(): void {}

  hostDisconnected(): void {
    if (this.result) URL.revokeObjectURL(this.result.url);
  }

  get ready(): boolean {
    return this.api !== null;
  }

  async connect(engine: Remote<LabEngine>): Promise<void> {
    // Comlink reaches nested objects by path; its types do not follow non-function members.
    this.api = engine.sync as unknown as Remote<SyncApi>;
    this.datasets = engine.datasets as unknown as Remote<DatasetApi>;
    try {
      this.models = await this.api.models();
    } catch (e) {
      this.error = asFailure(e);
    }
    this.changed();
  }

  loadDemoModels = () => this.act('models', async (api) => {
    this.models = await api.loadModels({ demo: true, manifestUrl: new URL(DEMO_MODELS_URL, document.baseURI).href });
  });

  loadModelFiles = (unet: File | null, vae: File | null) => this.act('models', async (api) => {
    if (!unet || !vae) throw failure('bad-request', `No ${unet ? 'VAE' : 'UNet'} file is picked.`, 'Pick both weights files, the UNet and the VAE it was trained with, then load them.');
    this.models = await api.loadModels({ unet, vae, names: { unet: unet.name, vae: vae.name } });
  });

  pickVideo(file: File | null): void {
    this.setVideo(file ? { blob: file, name: file.name } : null);
  }

  /** A new video: its size and length are read (for the face box), and a box of the last video is dropped. */
  private setVideo(pick: SyncPick | null): void {
    this.video = pick;
    this.settings = { ...this.settings, box: null };
    this.changed();
    if (!pick || !this.datasets) return;
    this.datasets.probe(pick.blob, pick.name).then(
      (probe) => {
        if (this.video === pick) pick.probe = probe;
        this.changed();
      },
      (e: unknown) => {
        if (this.video !== pick) return;
        pick.probe = null;
        this.error = asFailure(e);
        this.changed();
      },
    );
  }

  pickAudio(file: File | null): void {
    this.audio = file ? { blob: file, name: file.name } : null;
    this.changed();
  }

  useDemoClip = () => this.act('clip', async () => {
    const r = await fetch(new URL(DEMO_CLIP_URL, document.baseURI));
    if (!r.ok) throw failure('bad-clip', `The demo clip is not on this server (HTTP ${r.status}).`, 'Pick a video file instead.');
    this.setVideo({ blob: await r.blob(), name: 'demo.mp4' });
  });

  change(settings: Partial<SyncSettings>): void {
    this.settings = { ...this.settings, ...settings };
    this.changed();
  }

  run = () => this.act('run', async (api) => {
    const video = this.video;
    if (!video) return;
    const { steps, guidance, seed, maxSeconds, box } = this.settings;
    this.progress = { stage: 'open', frame: 0, frames: 0, chunk: 0, chunks: 0, etaSeconds: null, peakBytes: 0 };
    if (this.result) URL.revokeObjectURL(this.result.url);
    this.result = null;
    try {
      const result = await api.run(
        video.blob,
        this.audio?.blob ?? null,
        { steps, guidance, seed, ...(maxSeconds ? { maxSeconds } : {}), ...(box ? { box } : {}), videoName: video.name, ...(this.audio ? { audioName: this.audio.name } : {}) },
        Comlink.proxy((p: SyncRunProgress) => {
          this.progress = p;
          this.changed();
        }),
      );
      this.result = { ...result, url: URL.createObjectURL(result.blob) };
    } finally {
      this.progress = null;
      this.cancelling = false;
    }
  });

  cancel = async () => {
    if (!this.api || this.busy !== 'run') return;
    this.cancelling = true;
    this.changed();
    await this.api.cancel().catch((e: unknown) => (this.error = asFailure(e)));
  };

  dismissError(): void {
    this.error = null;
    this.changed();
  }

  private async act(busy: NonNullable<SyncBusy>, fn: (api: Remote<SyncApi>) => Promise<void>): Promise<void> {
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
  }

  private changed(): void {
    this.version++;
    this.host.requestUpdate();
  }
}
