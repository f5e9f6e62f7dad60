import { css, html, LitElement } from 'lit';
import type { EngineFailure, PlanVerdict, TrainConfig } from '../worker/api.ts';
import { fmtBytes, fmtShare } from './format.ts';
import { categoryColor, panel, tokens } from './styles.ts';

/**
 * The planner's verdict on the settings: fits or not, the peak per category and per phase, the knobs it
 * planned, and, when it does not fit, what to change (with a button that applies the planner's choice).
 */
export class PlanVerdictView extends LitElement {
  static override properties = {
    verdict: { attribute: false },
    suggestion: { attribute: false },
    planning: { type: Boolean },
    error: { attribute: false },
  };
  declare verdict: PlanVerdict | null;
  declare suggestion: PlanVerdict | null;
  declare planning: boolean;
  declare error: EngineFailure | null;

  constructor() {
    super();
    this.verdict = null;
    this.suggestion = null;
    this.planning = false;
    this.error = null;
  }

  static override styles = [
    tokens,
    panel,
    css`
      :host {
        display: block;
      }
      .head {
        display: flex;
        gap: 8px;
        align-items: baseline;
        flex-wrap: wrap;
        border-radius: 8px;
        padding: 8px 10px;
        background: var(--faint);
      }
      .head.fits {
        background: var(--ok-soft);
      }
      .head.nofit,
      .head.error {
        background: var(--danger-soft);
      }
      .head strong {
        white-space: nowrap;
      }
      .fits strong {
        color: var(--ok);
      }
      .nofit strong,
      .error strong {
        color: var(--danger);
      }
      .busy {
        font-size: 12px;
        color: var(--muted);
        margin-left: auto;
      }
      .knobs {
        font-size: 12px;
        margin: 6px 0 0;
      }
      .bar {
        display: inline-block;
        height: 8px;
        border-radius: 2px;
        min-width: 2px;
        vertical-align: 0;
      }
      td.barcell {
        width: 40%;
        padding-right: 0;
      }
      .advice {
        margin: 10px 0 0;
        padding: 8px 10px;
        border-left: 3px solid var(--warn);
        background: var(--faint);
        border-radius: 0 6px 6px 0;
      }
      .advice p {
        margin: 0 0 6px;
      }
      .advice p:last-child {
        margin-bottom: 0;
      }
    `,
  ];

  override render() {
    const v = this.verdict;
    if (this.error)
      return html`<div class="head error" role="status" data-testid="verdict" data-fits="error">
        <strong>Cannot plan these settings.</strong> <span>${this.error.message} ${this.error.action}</span>
      </div>`;
    if (!v)
      return html`<div class="head" role="status" data-testid="verdict" aria-busy="true"><span class="muted">${this.planning ? 'Planning…' : 'Waiting for the engine…'}</span></div>`;
    return html`
      <div class="head ${v.fits ? 'fits' : 'nofit'}" role="status" aria-live="polite" aria-busy=${this.planning ? 'true' : 'false'} data-testid="verdict" data-fits=${String(v.fits)} data-peak=${v.peak}>
        ${v.fits
          ? html`<strong>Fits.</strong> <span>Peak <span class="num">${fmtBytes(v.peak)}</span> of the <span class="num">${fmtBytes(v.budget)}</span> available (${fmtShare(v.peak, v.budget)}).</span>`
          : html`<strong>Does not fit.</strong> <span>One step needs more than the <span class="num">${fmtBytes(v.budget)}</span> the budget leaves for training.</span>`}
        ${this.planning ? html`<span class="busy">re-planning…</span>` : null}
      </div>
      <p class="knobs muted" data-testid="verdict-knobs">${knobs(v.config)} · planned in ${Math.round(v.ms)} ms on the meta device</p>
      ${v.fits ? null : this.renderAdvice()}
      <h3>Peak per category${v.fits ? '' : ' (until refused)'}</h3>
      ${this.renderCategories(v)}
      <h3>Peak per phase</h3>
      <div class="scroll-x">
        <table data-testid="verdict-phases">
          <tbody>
            ${Object.entries(v.phases)
              .filter(([, p]) => p.peak > 0)
              .map(([name, p]) => html`<tr><th scope="row">${name}</th><td class="num">${fmtBytes(p.peak)}</td></tr>`)}
          </tbody>
        </table>
      </div>
    `;
  }

  private renderCategories(v: PlanVerdict) {
    const rows = Object.entries(v.peakByCategory).filter(([, b]) => b > 0);
    const max = Math.max(1, ...rows.map(([, b]) => b));
    return html`<div class="scroll-x">
      <table data-testid="verdict-categories">
        <tbody>
          ${rows.map(
            ([c, b]) => html`<tr data-category=${c}>
              <th scope="row">${c}</th>
              <td class="num">${fmtBytes(b)}</td>
              <td class="barcell" aria-hidden="true"><span class="bar" style="width:${((100 * b) / max).toFixed(1)}%;background:${categoryColor(c)}"></span></td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>`;
  }

  private renderAdvice() {
    const s = this.suggestion;
    if (!s) return html`<div class="advice" data-testid="advice"><p class="muted">Looking for settings that fit…</p></div>`;
    return html`<div class="advice" data-testid="advice">
      <p>${s.advice}</p>
      ${s.fits
        ? html`<p><button type="button" @click=${this.apply}>Use ${knobs(s.config, true)}</button></p>`
        : html`<p class="muted">Lower the resolution or frames per sample, pick a smaller preset, or raise the budget.</p>`}
    </div>`;
  }

  private apply() {
    this.dispatchEvent(new CustomEvent('apply-suggestion', { bubbles: true, composed: true }));
  }
}

/** The memory knobs of a configuration, as a line. */
function knobs(c: TrainConfig, short = false): string {
  const acc = c.batch / c.microBatch;
  const parts = [
    acc > 1 ? `micro-batch ${c.microBatch} × ${acc} accumulation steps` : `batch ${c.batch}`,
    `checkpointing ${c.checkpointing ? 'on' : 'off'}`,
    c.precision,
  ];
  return short ? parts.join(', ') : `${c.preset}, ${c.resolution} px, ${c.frames} frame${c.frames === 1 ? '' : 's'} · ${parts.join(' · ')}`;
}

customElements.define('plan-verdict', PlanVerdictView);

declare global {
  interface HTMLElementTagNameMap {
    'plan-verdict': PlanVerdictView;
  }
}
