import { css, html, LitElement } from 'lit';
import type { EngineFailure, PlanVerdict, PresetInfo, TrainConfig, TrainSettings } from '../worker/api.ts';
import { UNITS } from './format.ts';
import './plan-verdict.ts';
import { panel, tokens } from './styles.ts';

type NumberField = 'frames' | 'batch' | 'validateEvery';

const LIMITS: Record<NumberField, [number, number]> = { frames: [1, 64], batch: [1, 256], validateEvery: [0, 1_000_000] };

/**
 * Model and training settings, with the planner's verdict under them. Emits `settings-change` (detail: the
 * TrainSettings) on every change (the controller plans them, debounced), `budget-change` (bytes) and
 * `apply-suggestion` (from the verdict).
 */
export class TrainSettingsPanel extends LitElement {
  static override properties = {
    presets: { attribute: false },
    settings: { attribute: false },
    budget: { type: Number },
    budgetError: { attribute: false },
    verdict: { attribute: false },
    suggestion: { attribute: false },
    planning: { type: Boolean },
    planError: { attribute: false },
    running: { type: Boolean },
    invalid: { state: true },
  };
  declare presets: PresetInfo[];
  declare settings: TrainSettings;
  declare budget: number;
  declare budgetError: string | null;
  declare verdict: PlanVerdict | null;
  declare suggestion: PlanVerdict | null;
  declare planning: boolean;
  declare planError: EngineFailure | null;
  /** A run is going: changes apply to the next run. */
  declare running: boolean;
  /** Fields whose text is not a valid number, with why. */
  declare invalid: Partial<Record<NumberField | 'budget', string>>;

  constructor() {
    super();
    this.presets = [];
    this.settings = { preset: 'unet-tiny' };
    this.budget = 0;
    this.budgetError = null;
    this.verdict = null;
    this.suggestion = null;
    this.planning = false;
    this.planError = null;
    this.running = false;
    this.invalid = {};
  }

  static override styles = [
    tokens,
    panel,
    css`
      :host {
        display: block;
      }
      form {
        display: grid;
        grid-template-columns: minmax(0, 1fr) minmax(0, 1fr);
        gap: 10px 12px;
      }
      .field {
        display: grid;
        gap: 3px;
        min-width: 0;
      }
      .wide {
        grid-column: 1 / -1;
      }
      label,
      .label {
        font-size: 12px;
        font-weight: 500;
        color: var(--muted);
      }
      input,
      select {
        border: 1px solid var(--border);
        border-radius: 6px;
        padding: 5px 8px;
        background: var(--panel);
        min-width: 0;
        width: 100%;
        box-sizing: border-box;
      }
      input[type='checkbox'] {
        width: auto;
      }
      input[aria-invalid='true'] {
        border-color: var(--danger);
      }
      .check {
        display: flex;
        gap: 8px;
        align-items: center;
        font-size: 13px;
        color: var(--text);
        font-weight: 400;
      }
      .budget {
        display: flex;
        gap: 6px;
        align-items: center;
      }
      .budget input {
        font-family: var(--mono);
      }
      .hint {
        font-size: 12px;
        margin: 0;
      }
      .error {
        font-size: 12px;
        color: var(--danger);
        margin: 0;
      }
      .desc {
        font-size: 12px;
        margin: 2px 0 0;
      }
      .note {
        font-size: 12px;
        margin: 10px 0 0;
        color: var(--warn);
      }
      plan-verdict {
        margin-top: 14px;
      }
      @media (max-width: 420px) {
        form {
          grid-template-columns: minmax(0, 1fr);
        }
      }
    `,
  ];

  /** The values shown: the preset's defaults under what the user set. */
  private get effective(): TrainConfig | null {
    const p = this.presets.find((x) => x.name === this.settings.preset);
    return p ? { ...p.defaults, ...this.settings, audioDim: p.defaults.audioDim } : null;
  }

  override render() {
    const c = this.effective;
    const preset = this.presets.find((x) => x.name === this.settings.preset);
    const accs = c ? divisors(c.batch) : [1];
    return html`
      <section class="panel" aria-labelledby="ts-h">
        <h2 id="ts-h">Model and training</h2>
        ${c && preset ? this.renderForm(c, preset, accs) : html`<p class="muted">Waiting for the engine’s presets…</p>`}
        ${this.running ? html`<p class="note">A run is going: changes apply to the next run.</p>` : null}
        <plan-verdict .verdict=${this.verdict} .suggestion=${this.suggestion} .planning=${this.planning} .error=${this.planError}></plan-verdict>
      </section>
    `;
  }

  private renderForm(c: TrainConfig, preset: PresetInfo, accs: number[]) {
    const acc = c.batch / c.microBatch;
    const budgetGiB = Number.isFinite(this.budget) && this.budget > 0 ? String(Number((this.budget / UNITS.GiB).toFixed(4))) : '';
    return html`
      <form @submit=${(e: Event) => e.preventDefault()} novalidate>
        <div class="field wide">
          <label for="ts-preset">Model preset</label>
          <select id="ts-preset" .value=${c.preset} @change=${this.changePreset}>
            ${this.presets.map((p) => html`<option value=${p.name} ?selected=${p.name === c.preset}>${p.name}</option>`)}
          </select>
          <p class="desc muted">${preset.description}</p>
        </div>
        <div class="field">
          <label for="ts-resolution">Resolution</label>
          <select id="ts-resolution" .value=${String(c.resolution)} @change=${(e: Event) => this.set({ resolution: Number(value(e)) })}>
            ${preset.resolutions.map((r) => html`<option value=${r} ?selected=${r === c.resolution}>${r} px</option>`)}
          </select>
        </div>
        ${this.numberField('frames', 'Frames per sample', c.frames)}
        ${this.numberField('batch', 'Batch (samples per step)', c.batch)}
        <div class="field">
          <label for="ts-accumulation">Gradient accumulation</label>
          <select id="ts-accumulation" .value=${String(acc)} @change=${(e: Event) => this.set({ microBatch: c.batch / Number(value(e)) })}>
            ${accs.map((a) => html`<option value=${a} ?selected=${a === acc}>${a === 1 ? 'none' : `${a} × micro-batch ${c.batch / a}`}</option>`)}
          </select>
        </div>
        <div class="field">
          <label for="ts-precision">Activation precision</label>
          <select id="ts-precision" .value=${c.precision} @change=${(e: Event) => this.set({ precision: value(e) as TrainConfig['precision'] })}>
            <option value="f32" ?selected=${c.precision === 'f32'}>f32</option>
            <option value="f16" ?selected=${c.precision === 'f16'}>f16 (loss scaling)</option>
          </select>
        </div>
        <div class="field">
          <span class="label">Memory for speed</span>
          <label class="check"
            ><input id="ts-checkpointing" type="checkbox" .checked=${c.checkpointing} @change=${(e: Event) => this.set({ checkpointing: (e.target as HTMLInputElement).checked })} />
            Gradient checkpointing</label
          >
        </div>
        ${this.numberField('validateEvery', 'Validate every N steps', c.validateEvery, 'wide', '0: never (Validate now still works while a run is going). The run samples with DDIM and decodes in tiles inside the budget every N steps; the plan includes that phase and its VAE.')}
        <div class="field wide">
          <label for="ts-budget">Memory budget (GiB)</label>
          <div class="budget">
            <input
              id="ts-budget"
              type="number"
              min="0"
              step="any"
              inputmode="decimal"
              .value=${budgetGiB}
              aria-invalid=${this.invalid.budget || this.budgetError ? 'true' : 'false'}
              aria-describedby="ts-budget-help"
              @keydown=${(e: KeyboardEvent) => e.key === 'Enter' && this.applyBudget(e)}
            />
            <button type="button" @click=${this.applyBudget}>Apply</button>
          </div>
          <p id="ts-budget-help" class="hint muted">The same budget as in GPU memory; the verdict follows it.</p>
          ${this.invalid.budget || this.budgetError ? html`<p class="error" role="alert">${this.invalid.budget ?? this.budgetError}</p>` : null}
        </div>
      </form>
    `;
  }

  private numberField(key: NumberField, label: string, v: number, cls = '', help = '') {
    const [min, max] = LIMITS[key];
    const err = this.invalid[key];
    return html`<div class="field ${cls}">
      <label for="ts-${key}">${label}</label>
      <input
        id="ts-${key}"
        type="number"
        inputmode="numeric"
        min=${min}
        max=${max}
        step="1"
        .value=${String(v)}
        aria-invalid=${err ? 'true' : 'false'}
        aria-describedby=${help || err ? `ts-${key}-help` : ''}
        @input=${(e: Event) => this.setNumber(key, value(e), min, max)}
      />
      ${err ? html`<p id="ts-${key}-help" class="error" role="alert">${err}</p>` : help ? html`<p id="ts-${key}-help" class="hint muted">${help}</p>` : null}
    </div>`;
  }

  private setNumber(key: NumberField, raw: string, min: number, max: number) {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      this.invalid = { ...this.invalid, [key]: `Enter a whole number from ${min} to ${max.toLocaleString('en-US')}.` };
      return;
    }
    const { [key]: _gone, ...rest } = this.invalid;
    this.invalid = rest;
    const c = this.effective!;
    if (key === 'batch') {
      // Keep the accumulation when it still divides the new batch; otherwise drop it.
      const acc = c.batch / c.microBatch;
      this.set({ batch: n, microBatch: n % acc === 0 ? n / acc : n });
    } else this.set({ [key]: n });
  }

  private changePreset(e: Event) {
    const p = this.presets.find((x) => x.name === value(e));
    if (!p) return;
    // Resolution and frames follow the preset; the memory knobs stay as the user set them.
    const { resolution: _r, frames: _f, ...keep } = this.settings;
    this.emit({ ...keep, preset: p.name });
  }

  private set(change: Partial<TrainConfig>) {
    this.emit({ ...this.settings, ...change });
  }

  private emit(settings: TrainSettings) {
    this.dispatchEvent(new CustomEvent('settings-change', { detail: settings, bubbles: true, composed: true }));
  }

  private applyBudget(e: Event) {
    e.preventDefault();
    const raw = (this.renderRoot.querySelector('#ts-budget') as HTMLInputElement).value.trim();
    const gib = Number(raw);
    if (raw === '' || !Number.isFinite(gib) || gib <= 0) {
      this.invalid = { ...this.invalid, budget: 'Enter a budget above zero, in GiB (0.5 is 512 MiB).' };
      return;
    }
    const { budget: _gone, ...rest } = this.invalid;
    this.invalid = rest;
    this.dispatchEvent(new CustomEvent('budget-change', { detail: Math.round(gib * UNITS.GiB), bubbles: true, composed: true }));
  }
}

const value = (e: Event) => (e.target as HTMLInputElement | HTMLSelectElement).value;

function divisors(n: number): number[] {
  const out: number[] = [];
  for (let d = 1; d <= n; d++) if (n % d === 0) out.push(d);
  return out;
}

customElements.define('train-settings', TrainSettingsPanel);

declare global {
  interface HTMLElementTagNameMap {
    'train-settings': TrainSettingsPanel;
  }
}
