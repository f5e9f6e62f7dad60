import { css, html, LitElement } from 'lit';
import type { MemorySample, TrainingStatus } from '../worker/api.ts';
import { fmtBytes } from './format.ts';
import './memory-timeline.ts';
import { panel, tokens } from './styles.ts';
import { fmtDelta } from './train-format.ts';

/**
 * Training memory: the planner's peak next to the peak the ledger measured in the run, and the timeline of
 * live bytes per category over the steps (where the optimizer, the readback and validation sit).
 */
export class TrainingMemory extends LitElement {
  static override properties = {
    status: { attribute: false },
    samples: { attribute: false },
    version: { type: Number },
    settingsPeak: { attribute: false },
  };
  declare status: TrainingStatus | null;
  declare samples: MemorySample[];
  declare version: number;
  /** The verdict's peak for the current settings, shown before a run. */
  declare settingsPeak: number | null;

  constructor() {
    super();
    this.status = null;
    this.samples = [];
    this.version = 0;
    this.settingsPeak = null;
  }

  static override styles = [
    tokens,
    panel,
    css`
      :host {
        display: block;
      }
      .stats {
        display: grid;
        grid-template-columns: repeat(auto-fit, minmax(120px, 1fr));
        gap: 8px;
        margin: 0 0 12px;
      }
      .delta {
        font-size: 12px;
        font-weight: 500;
        color: var(--muted);
      }
      .note {
        font-size: 12px;
        margin: 8px 0 0;
      }
    `,
  ];

  override render() {
    const s = this.status;
    const inRun = s !== null && s.state !== 'idle';
    const planned = inRun ? s.plannedPeak : this.settingsPeak;
    const first = inRun ? s.firstStepPeak : null;
    const measured = inRun && s.iterations > 0 ? s.measuredPeak : null;
    const budget = s?.ledger?.budget ?? null;
    return html`
      <section class="panel" aria-labelledby="tm-h">
        <h2 id="tm-h">Training memory</h2>
        <dl class="stats">
          ${stat('planned-peak', inRun ? 'Planned peak' : 'Planned peak (settings)', planned)}
          ${stat('first-step-peak', 'First step, measured', first, planned && first !== null ? same(first, planned) : '')}
          ${stat('measured-peak', 'Whole run, measured', measured, planned && measured !== null ? fmtDelta(measured - planned, planned) : '')}
          ${stat('run-budget', 'Budget', budget)}
        </dl>
        <memory-timeline .samples=${this.samples} .version=${this.version} .plannedPeak=${planned ?? null} .budget=${budget}></memory-timeline>
        <p class="note muted">
          The planner runs one step of the same code on a meta device, before anything is allocated: the run's first step
          allocates the same buffers, so its measured peak is the planned one. The whole run's peak also holds what later
          steps left in the pool, checkpoint saves and validation.
        </p>
      </section>
    `;
  }
}

function stat(id: string, label: string, bytes: number | null | undefined, note = '') {
  const known = bytes !== null && bytes !== undefined && Number.isFinite(bytes);
  return html`<div class="stat">
    <dt>${label}</dt>
    <dd class="num" data-testid=${id} data-bytes=${known ? bytes : ''}>${known ? fmtBytes(bytes) : '—'}${note ? html` <span class="delta">${note}</span>` : null}</dd>
  </div>`;
}

const same = (measured: number, planned: number) => (measured === planned ? '= planned' : fmtDelta(measured - planned, planned));

customElements.define('training-memory', TrainingMemory);

declare global {
  interface HTMLElementTagNameMap {
    'training-memory': TrainingMemory;
  }
}
