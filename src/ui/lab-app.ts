import { css, html, LitElement } from 'lit';
import type { DeviceReport, EngineEvent, EngineFailure, LedgerSnapshot, SelfTestResult } from '../worker/api.ts';
import './device-panel.ts';
import './checkpoints-panel.ts';
import './clips-panel.ts';
import { ClipsController } from './clips-controller.ts';
import { CheckpointsController } from './checkpoints-controller.ts';
import { asFailure, startEngine, type EngineClient } from './engine-client.ts';
import './error-banner.ts';
import './first-run-hint.ts';
import './loss-chart.ts';
import './memory-panel.ts';
import './run-panel.ts';
import { tokens } from './styles.ts';
import './train-settings.ts';
import './validation-gallery.ts';
import { ValidationController } from './validation-controller.ts';
import './sync-panel.ts';
import { SyncController } from './sync-controller.ts';
import { TrainingController } from './training-controller.ts';
import './training-memory.ts';
import { loadSetting, saveSetting } from './local-settings.ts';

const BUDGET_KEY = 'latent-lab.budget-bytes';

type Status = 'starting' | 'ready' | 'failed';

/** The app shell: starts the engine worker, keeps what it reports, and lays out the panels. */
export class LabApp extends LitElement {
  static override properties = {
    status: { state: true },
    device: { state: true },
    selfTest: { state: true },
    ledger: { state: true },
    failures: { state: true },
    budgetError: { state: true },
  };
  declare status: Status;
  declare device: DeviceReport | null;
  declare selfTest: SelfTestResult | null;
  declare ledger: LedgerSnapshot | null;
  declare failures: EngineFailure[];
  declare budgetError: string | null;
  private client: EngineClient | null = null;
  /** Settings, verdict, run status, losses and memory samples of training. */
  private training = new TrainingController(this, (f) => this.fail(f, false));
  /** The run's validations (scheduled and asked for) and the Validate now call. */
  private validation = new ValidationController(this);
  /** Lip sync: models, inputs, one run and its file. */
  private sync = new SyncController(this);
  /** The dataset: clips, the VAE and its latents; runs train on it when the user chose to. */
  private clips = new ClipsController(this, (f) => this.fail(f, false));
  private checkpoints = new CheckpointsController(
    this,
    (f) => this.fail(f, false),
    (history) => this.training.prefillLoss(history),
  );

  constructor() {
    super();
    this.status = 'starting';
    this.device = null;
    this.selfTest = null;
    this.ledger = null;
    this.failures = [];
    this.budgetError = null;
    this.training.datasetId = () => this.clips.trainingDatasetId;
  }

  static override styles = [
    tokens,
    css`
      :host {
        display: block;
        min-height: 100vh;
        background: var(--bg);
      }
      .wrap {
        max-width: 1240px;
        margin: 0 auto;
        padding: 20px 24px 40px;
        display: grid;
        gap: 16px;
      }
      header {
        display: flex;
        align-items: center;
        justify-content: space-between;
        gap: 12px;
        flex-wrap: wrap;
      }
      h1 {
        font-size: 20px;
        margin: 0;
        letter-spacing: -0.01em;
      }
      h1 span {
        color: var(--muted);
        font-weight: 400;
        font-size: 14px;
        margin-left: 10px;
      }
      .status {
        display: inline-flex;
        align-items: center;
        gap: 8px;
        font-size: 13px;
        border: 1px solid var(--border);
        background: var(--panel);
        border-radius: 999px;
        padding: 3px 12px;
      }
      .status::before {
        content: '';
        width: 8px;
        height: 8px;
        border-radius: 50%;
        background: var(--warn);
      }
      .status.ready::before {
        background: var(--ok);
      }
      .status.failed::before {
        background: var(--danger);
      }
      main {
        display: grid;
        grid-template-columns: minmax(300px, 360px) minmax(0, 1fr);
        gap: 16px;
        align-items: start;
      }
      .stack {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 16px;
        min-width: 0;
      }
      @media (max-width: 860px) {
        .wrap {
          padding: 12px 12px 32px;
        }
        main {
          grid-template-columns: minmax(0, 1fr);
        }
        h1 span {
          display: block;
          margin: 2px 0 0;
        }
      }
    `,
  ];

  override connectedCallback() {
    super.connectedCallback();
    if (!this.client) void this.start();
  }

  override disconnectedCallback() {
    super.disconnectedCallback();
    this.client?.terminate();
    this.client = null;
  }

  override render() {
    const label = { starting: 'Starting the engine…', ready: 'Engine ready', failed: 'Engine stopped' }[this.status];
    return html`
      <div class="wrap">
        <header>
          <h1>latent-lab<span>lip-sync diffusion training on your GPU, inside a memory budget</span></h1>
          <span class="status ${this.status}" role="status" data-testid="status">${label}</span>
        </header>
        <first-run-hint @use-demo-clip=${this.useDemoClip}></first-run-hint>
        ${this.failures.length
          ? html`<error-banner .failures=${this.failures} @dismiss=${(e: CustomEvent<number>) => this.dismiss(e.detail)}></error-banner>`
          : null}
        <main>
          <device-panel .report=${this.device} .selfTest=${this.selfTest} .failed=${this.status === 'failed'}></device-panel>
          <memory-panel
            .snapshot=${this.ledger}
            .budgetError=${this.budgetError}
            .failed=${this.status === 'failed'}
            @budget-change=${this.changeBudget}
          ></memory-panel>
          ${this.renderTraining()}
        </main>
        <sync-panel data-testid="slot-sync" .ctl=${this.sync} .version=${this.sync.version} .ready=${this.sync.ready && this.status === 'ready'}></sync-panel>
      </div>
    `;
  }

  private renderTraining() {
    const t = this.training;
    return html`
      <train-settings
        .presets=${t.presets}
        .settings=${t.settings}
        .budget=${this.ledger?.budget ?? 0}
        .budgetError=${this.budgetError}
        .verdict=${t.verdict}
        .suggestion=${t.suggestion}
        .planning=${t.planning}
        .planError=${t.planError}
        .running=${t.running}
        @settings-change=${(e: CustomEvent) => t.change(e.detail)}
        @budget-change=${this.changeBudget}
        @apply-suggestion=${() => t.applySuggestion()}
      ></train-settings>
      <div class="stack">
        <run-panel
          .status=${t.status}
          .steps=${t.steps}
          .ready=${t.ready && this.status === 'ready'}
          .fits=${t.planning || t.planError ? null : (t.verdict?.fits ?? null)}
          .call=${t.call}
          @steps-change=${(e: CustomEvent<number>) => t.setSteps(e.detail)}
          @run-start=${t.start}
          @run-pause=${t.pause}
          @run-resume=${t.resume}
          @run-stop=${t.stop}
        ></run-panel>
        <loss-chart .points=${t.loss} .version=${t.version}></loss-chart>
        <training-memory .status=${t.status} .samples=${t.memory} .version=${t.version} .settingsPeak=${t.verdict?.peak ?? null}></training-memory>
      </div>
      <clips-panel
        data-testid="slot-clips"
        .ctl=${this.clips}
        .version=${this.clips.version}
        .ready=${this.clips.ready && this.status === 'ready'}
        .runLive=${t.running}
      ></clips-panel>
      <div class="stack">
        ${this.renderValidation()}
        ${this.renderCheckpoints()}
      </div>
    `;
  }

  private renderValidation() {
    const v = this.validation;
    return html`<validation-gallery
      data-testid="slot-validation"
      .results=${v.results}
      .shown=${v.shown}
      .busy=${v.busy}
      .error=${v.error}
      .ready=${v.ready && this.status === 'ready'}
      .runState=${this.training.status?.state ?? null}
      .validateEvery=${(this.training.running ? this.training.status?.config : this.training.verdict?.config)?.validateEvery ?? null}
      @validate-now=${v.validateNow}
      @select-validation=${(e: CustomEvent) => v.select(e.detail)}
      @dismiss-validation-error=${() => v.dismiss()}
    ></validation-gallery>`;
  }

  private renderCheckpoints() {
    const c = this.checkpoints;
    return html`<checkpoints-panel
      .list=${c.list}
      .storage=${c.storage}
      .autosave=${c.autosave}
      .offer=${c.offer}
      .imported=${c.imported}
      .busy=${c.busy}
      .loaded=${c.loaded}
      .ready=${c.ready && this.status === 'ready'}
      .runLive=${this.training.running}
      @ck-save=${c.save}
      @ck-restore=${(e: CustomEvent<string>) => c.restore(e.detail, this.training.steps)}
      @ck-pin=${(e: CustomEvent<{ id: string; pinned: boolean }>) => c.pin(e.detail.id, e.detail.pinned)}
      @ck-delete=${(e: CustomEvent<string>) => c.remove(e.detail)}
      @ck-export=${(e: CustomEvent) => c.export(e.detail.c, e.detail.format)}
      @ck-import=${(e: CustomEvent<{ file: File; partial: boolean }>) => c.importWeights(e.detail.file, e.detail.partial)}
      @ck-autosave=${(e: CustomEvent) => c.setAutosave(e.detail)}
      @ck-persist=${c.persist}
      @ck-dismiss-offer=${() => c.dismissOffer()}
    ></checkpoints-panel>`;
  }

  private async start() {
    const client = startEngine((f) => this.fail(f));
    this.client = client;
    try {
      await client.listen((e) => this.onEvent(e));
      this.device = await this.init(client);
      this.selfTest = await client.engine.selfTest();
      this.ledger = await client.engine.ledger();
      this.status = 'ready';
      void this.training.connect(client.engine);
      void this.validation.connect(client.engine);
      void this.checkpoints.connect(client.engine);
      void this.clips.connect(client.engine);
      void this.sync.connect(client.engine);
    } catch (e) {
      this.fail(asFailure(e));
    }
  }

  /** Starts with the budget saved last time; one that no longer fits the engine's start-up falls back to the default. */
  private async init(client: EngineClient): Promise<DeviceReport> {
    const saved = savedBudget();
    try {
      return await client.engine.init({ budgetBytes: saved });
    } catch (e) {
      const f = asFailure(e);
      if (saved === undefined || f.code !== 'budget-exceeded') throw e;
      saveBudget(null);
      this.fail({ ...f, action: 'The saved budget was too small to start the engine, so the default budget is used.' }, false);
      return client.engine.init();
    }
  }

  /**
   * Training on the dataset: the settings take its resolution and its audio tokens' shape (the model learns a
   * projection of them), and its readiness counts the settings' frames a sample. Synthetic runs take the preset's.
   */
  override updated() {
    const t = this.training;
    const preset = t.presets.find((p) => p.name === t.settings.preset);
    this.clips.setSampleFrames(t.settings.frames ?? preset?.defaults.frames ?? 2);
    if (t.running || !preset) return;
    const onDataset = this.clips.trainingDatasetId !== null;
    const audio = this.clips.trainingAudioShape;
    const want = {
      resolution: onDataset ? this.clips.dataset!.config.resolution : (t.settings.resolution ?? preset.defaults.resolution),
      audioTokens: audio?.[0],
      audioDim: audio?.[1],
    };
    const s = t.settings;
    if ((s.resolution ?? preset.defaults.resolution) !== want.resolution || s.audioTokens !== want.audioTokens || s.audioDim !== want.audioDim) {
      const { audioTokens: _t, audioDim: _d, ...rest } = s;
      t.change({ ...rest, resolution: want.resolution, ...(audio ? { audioTokens: audio[0], audioDim: audio[1] } : {}) });
    }
  }

  /** The first-run hint's "Try the demo clip": the demo clip goes into the Clips panel, which scrolls into view. */
  private useDemoClip = () => {
    void this.clips.pickDemo();
    this.renderRoot.querySelector('clips-panel')?.scrollIntoView({ behavior: 'smooth', block: 'start' });
  };

  private onEvent(e: EngineEvent) {
    if (e.type === 'ledger') {
      this.ledger = e.snapshot;
      this.training.onLedger(e.snapshot);
    } else if (e.type.startsWith('train-')) {
      this.training.onEvent(e);
      this.validation.onEvent(e);
    }
    else if (e.type.startsWith('checkpoint-') || e.type === 'resume-offer') this.checkpoints.onEvent(e);
    else if (e.type === 'device-lost' || e.type === 'error') this.fail(e.failure, e.type === 'device-lost');
  }

  private fail(f: EngineFailure, fatal = true) {
    this.failures = [...this.failures, f];
    if (fatal) this.status = 'failed';
  }

  private dismiss(index: number) {
    this.failures = this.failures.filter((_, i) => i !== index);
  }

  private async changeBudget(e: CustomEvent<number>) {
    if (!this.client) return;
    try {
      this.ledger = await this.client.engine.setBudget(e.detail);
      this.budgetError = null;
      saveBudget(e.detail);
    } catch (err) {
      const f = asFailure(err);
      this.budgetError = `${f.message} ${f.action}`;
    }
  }
}

function savedBudget(): number | undefined {
  const v = Number(loadSetting(BUDGET_KEY));
  return Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

function saveBudget(bytes: number | null) {
  saveSetting(BUDGET_KEY, bytes === null ? null : String(bytes));
}

customElements.define('lab-app', LabApp);

declare global {
  interface HTMLElementTagNameMap {
    'lab-app': LabApp;
  }
}
