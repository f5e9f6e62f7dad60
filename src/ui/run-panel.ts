import { css, html, LitElement } from 'lit';
import type { RunState, TrainingStatus } from '../worker/api.ts';
import { fmtCount } from './format.ts';
import type { RunCall } from './training-controller.ts';
import { fmtDuration, fmtLoss, fmtRate } from './train-format.ts';
import { panel, tokens } from './styles.ts';

const STATE_LABELS: Record<RunState, string> = {
  idle: 'Not started',
  running: 'Training',
  pausing: 'Pausing after this step…',
  paused: 'Paused',
  stopping: 'Stopping after this step…',
  stopped: 'Stopped',
  done: 'Finished',
  failed: 'Failed',
};

/**
 * Start, pause, resume and stop a run; its step, loss, speed, ETA and a progress bar. Emits `run-start`
 * (after `steps-change`), `run-pause`, `run-resume` and `run-stop`; the controller makes the calls.
 */
export class RunPanel extends LitElement {
  static override properties = {
    status: { attribute: false },
    steps: { type: Number },
    ready: { type: Boolean },
    fits: { attribute: false },
    call: { attribute: false },
    stepsError: { state: true },
  };
  declare status: TrainingStatus | null;
  declare steps: number;
  /** The engine is up. */
  declare ready: boolean;
  /** The planner's verdict on the settings (null while unknown). */
  declare fits: boolean | null;
  /** A run call in flight. */
  declare call: RunCall;
  declare stepsError: string | null;

  constructor() {
    super();
    this.status = null;
    this.steps = 200;
    this.ready = false;
    this.fits = null;
    this.call = null;
    this.stepsError = null;
  }

  static override styles = [
    tokens,
    panel,
    css`
      :host {
        display: block;
      }
      .state {
        font-size: 13px;
        display: inline-flex;
        align-items: center;
        gap: 6px;
      }
      .state::before {
        content: '';
        width: 8px;
        height: 8px;
        border-radius: 50%;
        background: var(--border);
      }
      .state.running::before {
        background: var(--ok);
      }
      .state.pausing::before,
      .state.paused::before,
      .state.stopping::before {
        background: var(--warn);
      }
      .state.failed::before {
        background: var(--danger);
      }
      .controls {
        display: flex;
        flex-wrap: wrap;
        gap: 8px;
        align-items: end;
      }
      .steps {
        display: grid;
        gap: 3px;
      }
      .steps label {
        font-size: 12px;
        font-weight: 500;
        color: var(--muted);
      }
      .steps input {
        width: 7em;
        border: 1px solid var(--border);
        border-radius: 6px;
        padding: 5px 8px;
        background: var(--panel);
        font-family: var(--mono);
      }
      button[aria-disabled='true'] {
        opacity: 0.5;
        cursor: not-allowed;
      }
      .error {
        color: var(--danger);
        font-size: 12px;
        margin: 6px 0 0;
      }
      .track {
        margin: 14px 0 4px;
        height: 10px;
        border-radius: 5px;
        background: var(--faint);
        overflow: hidden;
      }
      .fill {
        height: 100%;
        background: var(--accent);
        transition: width 0.3s;
      }
      .stats {
        display: grid;
        grid-template-columns: repeat(auto-fit, minmax(96px, 1fr));
        gap: 8px;
        margin: 10px 0 0;
      }
      .data {
        font-size: 12px;
        margin: 8px 0 0;
      }
    `,
  ];

  override render() {
    const s = this.status;
    const state: RunState = s?.state ?? 'idle';
    const active = state === 'running' || state === 'pausing' || state === 'paused' || state === 'stopping';
    const target = active || state === 'done' || state === 'stopped' || state === 'failed' ? (s?.steps ?? this.steps) : this.steps;
    const step = s?.step ?? 0;
    const pct = target > 0 ? Math.min(100, (100 * step) / target) : 0;
    const busy = this.call !== null;
    const canStart = this.ready && !active && !busy && this.fits === true && !this.stepsError;
    // One button changes its job (start, pause, resume), so keyboard focus stays on it.
    const primary =
      state === 'paused' || state === 'pausing'
        ? { label: 'Resume', event: 'run-resume', enabled: !busy && state === 'paused' }
        : active
          ? { label: 'Pause', event: 'run-pause', enabled: !busy && state === 'running' }
          : { label: this.call === 'start' ? 'Starting…' : 'Start', event: 'run-start', enabled: canStart };
    return html`
      <section class="panel" aria-labelledby="run-h">
        <header>
          <h2 id="run-h">Run</h2>
          <span class="state ${state}" role="status" aria-live="polite" data-testid="run-state" data-state=${state}>${STATE_LABELS[state]}</span>
        </header>
        <div class="controls">
          <div class="steps">
            <label for="run-steps">Steps</label>
            <input
              id="run-steps"
              type="number"
              min="1"
              step="1"
              inputmode="numeric"
              .value=${String(this.steps)}
              ?disabled=${active}
              aria-invalid=${this.stepsError ? 'true' : 'false'}
              @input=${this.changeSteps}
              @keydown=${(e: KeyboardEvent) => e.key === 'Enter' && canStart && this.fire('run-start')}
            />
          </div>
          ${button(primary.label, primary.event, !primary.enabled, 'primary', 'run-primary', (e) => this.fire(e))}
          ${button('Stop', 'run-stop', !active || busy || state === 'stopping', '', 'run-stop', (e) => this.fire(e))}
        </div>
        ${this.stepsError ? html`<p class="error" role="alert">${this.stepsError}</p>` : null}
        ${!active && this.ready && this.fits === false ? html`<p class="error">These settings do not fit the budget: see the verdict.</p>` : null}
        <div
          class="track"
          role="progressbar"
          aria-label="Training progress"
          aria-valuemin="0"
          aria-valuemax=${target}
          aria-valuenow=${step}
          aria-valuetext="step ${step} of ${target}"
          data-testid="run-progress"
        >
          <div class="fill" style="width:${pct.toFixed(2)}%"></div>
        </div>
        <dl class="stats">
          ${stat('run-step', 'Step', `${fmtCount(step)} / ${fmtCount(target)}`, step)}
          ${stat('run-loss', 'Loss', fmtLoss(s?.loss ?? null), s?.loss ?? '')}
          ${stat('run-rate', 'Steps / s', fmtRate(s?.itPerSec ?? null), s?.itPerSec ?? '')}
          ${stat('run-eta', 'ETA', fmtDuration(s?.etaSeconds ?? null), s?.etaSeconds ?? '')}
          ${stat('run-elapsed', 'Elapsed', fmtDuration(s ? s.elapsedSeconds : null), s?.elapsedSeconds ?? '')}
        </dl>
        ${state === 'running' && s?.iterations === 0
          ? html`<p class="data muted" data-testid="run-first-step">The first step compiles the GPU kernels: it takes longer than the others (a minute or more on a software adapter).</p>`
          : null}
        <p class="data muted" data-testid="run-data">${dataLine(s)}</p>
      </section>
    `;
  }

  private changeSteps(e: Event) {
    const raw = (e.target as HTMLInputElement).value;
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isInteger(n) || n < 1 || n > 10_000_000) {
      this.stepsError = 'Enter how many steps to train: a whole number from 1 to 10,000,000.';
      return;
    }
    this.stepsError = null;
    this.dispatchEvent(new CustomEvent('steps-change', { detail: n, bubbles: true, composed: true }));
  }

  private fire(name: string) {
    this.dispatchEvent(new CustomEvent(name, { bubbles: true, composed: true }));
  }
}

/** aria-disabled rather than disabled: a disabled button drops keyboard focus, this one keeps it. */
function button(label: string, event: string, off: boolean, cls: string, id: string, fire: (e: string) => void) {
  return html`<button class=${cls} type="button" aria-disabled=${off ? 'true' : 'false'} data-testid=${id} @click=${() => off || fire(event)}>${label}</button>`;
}

function stat(id: string, label: string, text: string, value: number | string) {
  return html`<div class="stat"><dt>${label}</dt><dd class="num" data-testid=${id} data-value=${value}>${text}</dd></div>`;
}

function dataLine(s: TrainingStatus | null): string {
  const d = s?.data;
  if (!d) return 'Data: synthetic clips until a dataset is ready (moving latent patterns driven by a synthetic audio signal).';
  return d.kind === 'synthetic' ? `Data: ${d.clips} synthetic clips.` : `Data: ${d.clips} clips of dataset ${d.datasetId}.`;
}

customElements.define('run-panel', RunPanel);

declare global {
  interface HTMLElementTagNameMap {
    'run-panel': RunPanel;
  }
}
