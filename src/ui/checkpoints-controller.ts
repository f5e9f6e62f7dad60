import type { Remote } from 'comlink';
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type {
  AutosaveSettings,
  CheckpointApi,
  CheckpointInfo,
  CheckpointStorage,
  EngineEvent,
  EngineFailure,
  LabEngine,
  ResumeOffer,
  WeightsImport,
} from '../worker/api.ts';
import { asFailure } from './engine-client.ts';
import { loadJson, saveJson, saveSetting } from './local-settings.ts';

const AUTOSAVE_KEY = 'latent-lab.autosave';

/** What the panel is doing, so it can show it and not start two things at once. */
export type CheckpointBusy = { action: 'save' | 'import' | 'autosave' | 'persist' } | { action: 'restore' | 'export' | 'delete' | 'pin'; id: string } | null;

/**
 * The checkpoints side of the page: the list, storage use, autosave settings and a standing resume offer,
 * refreshed when the engine says a checkpoint was written. Talks to the engine only through api.ts types.
 */
export class CheckpointsController implements ReactiveController {
  list: CheckpointInfo[] = [];
  storage: CheckpointStorage | null = null;
  autosave: AutosaveSettings | null = null;
  offer: ResumeOffer | null = null;
  imported: WeightsImport | null = null;
  busy: CheckpointBusy = null;
  loaded = false;
  private api: Remote<CheckpointApi> | null = null;
  private refreshing: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly report: (f: EngineFailure) => void,
    /** A restored run starts: hands its loss history to the training view. */
    private readonly onRestored: (history: { step: number; loss: number }[]) => void,
  ) {
    host.addController(this);
  }

  hostConnected(): void {}

  get ready(): boolean {
    return this.api !== null;
  }

  async connect(engine: Remote<LabEngine>): Promise<void> {
    // Comlink reaches nested objects by path; its types do not follow non-function members.
    this.api = engine.checkpoints as unknown as Remote<CheckpointApi>;
    try {
      [this.autosave, this.offer] = await Promise.all([this.restoreAutosave(this.api), this.api.resumeOffer()]);
    } catch (e) {
      this.report(asFailure(e));
    }
    await this.refresh();
  }

  onEvent(e: EngineEvent): void {
    if (e.type === 'checkpoint-saved') void this.refresh();
    else if (e.type === 'checkpoint-failed') this.report(e.failure);
    else if (e.type === 'resume-offer') {
      this.offer = e.offer;
      void this.refresh();
    } else return;
    this.host.requestUpdate();
  }

  /** Reloads the list and the storage use; calls during a reload fold into one more. */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.again = false;
        if (!this.api) return;
        try {
          const [list, storage] = await Promise.all([this.api.list(), this.api.storage()]);
          this.list = list.sort((a, b) => b.createdAt - a.createdAt);
          this.storage = storage;
          this.loaded = true;
        } catch (e) {
          this.report(asFailure(e));
        }
        this.host.requestUpdate();
      } while (this.again);
    })().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  save = () => this.act({ action: 'save' }, async (api) => void (await api.save({})));

  restore = (id: string, steps: number) =>
    this.act({ action: 'restore', id }, async (api) => {
      const target = this.list.find((c) => c.id === id);
      // A resumed run trains on from the checkpoint's step: at least one step more.
      await api.restore(id, { steps: Math.max(steps, (target?.step ?? 0) + 1) });
      if (this.offer?.checkpoint.id === id) this.offer = null;
      this.onRestored(await api.lossHistory(id));
    });

  pin = (id: string, pinned: boolean) => this.act({ action: 'pin', id }, async (api) => void (await api.pin(id, pinned)));

  remove = (id: string) => this.act({ action: 'delete', id }, async (api) => void (await api.delete(id)));

  export = (c: CheckpointInfo, format: 'safetensors' | 'pt') =>
    this.act({ action: 'export', id: c.id }, async (api) => {
      const blob = await api.export(c.id, format);
      download(blob, `${slug(c.label || c.preset)}-step${c.step}.${format}`);
    });

  importWeights = (file: File, partial: boolean) =>
    this.act({ action: 'import' }, async (api) => {
      this.imported = await api.importWeights(file, { partial });
    });

  setAutosave = (s: AutosaveSettings) =>
    this.act({ action: 'autosave' }, async (api) => {
      this.autosave = await api.setAutosave(s);
      saveJson(AUTOSAVE_KEY, this.autosave);
    });

  /** The autosave settings chosen on an earlier visit go back to the engine (a new worker starts from defaults). */
  private async restoreAutosave(api: Remote<CheckpointApi>): Promise<AutosaveSettings> {
    const saved = loadJson(AUTOSAVE_KEY) as AutosaveSettings | null;
    if (!saved) return api.autosave();
    try {
      return await api.setAutosave(saved);
    } catch {
      saveSetting(AUTOSAVE_KEY, null); // settings this engine refuses: back to its defaults
      return api.autosave();
    }
  }

  persist = () => this.act({ action: 'persist' }, async (api) => void (await api.persist()));

  dismissOffer(): void {
    this.offer = null;
    this.host.requestUpdate();
  }

  private async act(busy: NonNullable<CheckpointBusy>, fn: (api: Remote<CheckpointApi>) => Promise<void>): Promise<void> {
    if (!this.api || this.busy) return;
    this.busy = busy;
    this.host.requestUpdate();
    try {
      await fn(this.api);
    } catch (e) {
      this.report(asFailure(e));
    } finally {
      this.busy = null;
      this.host.requestUpdate();
    }
    await this.refresh();
  }
}

function download(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.style.display = 'none';
  document.body.append(a);
  a.click();
  a.remove();
  // The download has its own copy once it started.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

const slug = (s: string) => s.replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60) || 'checkpoint';
