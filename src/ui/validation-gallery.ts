import { css, html, LitElement } from 'lit';
import type { EngineFailure, RunState, TrainValidation } from '../worker/api.ts';
import { fmtBytes, fmtCount, fmtShare } from './format.ts';
import './rgb-canvas.ts';
import { panel, tokens } from './styles.ts';
import { fmtDuration } from './train-format.ts';

/**
 * The validation gallery: for the chosen validation, each frame's ground truth next to the generated one,
 * the mouth (the region the model generates) enlarged pixel for pixel, PSNR and mouth L1 at the step, and
 * the validation's memory peak against the budget and the plan. "Validate now" asks the engine for one
 * (emits `validate-now`); `select-validation` (detail: the result) and `dismiss-validation-error` go to the
 * controller.
 */
export class ValidationGallery extends LitElement {
  static override properties = {
    results: { attribute: false },
    shown: { attribute: false },
    busy: { type: Boolean },
    error: { attribute: false },
    ready: { type: Boolean },
    runState: { attribute: false },
    validateEvery: { attribute: false },
  };
  /** Oldest first. */
  declare results: TrainValidation[];
  declare shown: TrainValidation | null;
  /** A "Validate now" call in flight. */
  declare busy: boolean;
  declare error: EngineFailure | null;
  /** The engine is up. */
  declare ready: boolean;
  /** The run's state: validation needs its model (running or paused). */
  declare runState: RunState | null;
  /** The settings' schedule (0: never), for the empty state's hint. */
  declare validateEvery: number | null;

  constructor() {
    super();
    this.results = [];
    this.shown = null;
    this.busy = false;
    this.error = null;
    this.ready = false;
    this.runState = null;
    this.validateEvery = null;
  }

  static override styles = [
    tokens,
    panel,
    css`
      :host {
        display: block;
      }
      header h2 {
        margin-bottom: 8px;
      }
      button[aria-disabled='true'] {
        opacity: 0.5;
        cursor: not-allowed;
      }
      .why {
        font-size: 12px;
        margin: 0 0 8px;
      }
      .error {
        border: 1px solid var(--danger);
        background: var(--danger-soft);
        border-radius: 8px;
        padding: 8px 10px;
        margin: 0 0 10px;
        display: grid;
        grid-template-columns: minmax(0, 1fr) auto;
        gap: 2px 8px;
        align-items: start;
      }
      .error p {
        margin: 0;
        grid-column: 1;
      }
      .error strong {
        color: var(--danger);
      }
      .error button {
        grid-column: 2;
        grid-row: 1;
        font-size: 12px;
        padding: 2px 8px;
      }
      .empty {
        margin: 0;
        padding: 20px 12px;
        border: 1px dashed var(--border);
        border-radius: 8px;
        text-align: center;
      }
      .picker {
        display: flex;
        flex-wrap: wrap;
        gap: 6px;
        margin: 0 0 10px;
      }
      .picker button {
        font-size: 12px;
        padding: 2px 10px;
        border-radius: 999px;
        font-family: var(--mono);
      }
      .picker button[aria-pressed='true'] {
        background: var(--accent-soft);
        border-color: var(--accent);
      }
      .stats {
        display: grid;
        grid-template-columns: repeat(auto-fit, minmax(88px, 1fr));
        gap: 8px;
        margin: 0 0 10px;
      }
      .meter {
        position: relative;
        height: 10px;
        border-radius: 5px;
        background: var(--faint);
        overflow: hidden;
      }
      .meter .fill {
        height: 100%;
        min-width: 2px;
        background: #ef4444;
      }
      .meter .plan {
        position: absolute;
        top: 0;
        bottom: 0;
        width: 2px;
        background: var(--text);
      }
      .peak {
        font-size: 12px;
        margin: 4px 0 0;
      }
      .frames {
        display: grid;
        grid-template-columns: repeat(auto-fill, minmax(220px, 1fr));
        gap: 10px;
        margin: 0;
        padding: 0;
        list-style: none;
      }
      figure {
        margin: 0;
        max-width: 360px;
        display: grid;
        grid-template-columns: 1fr 1fr;
        gap: 4px;
      }
      figcaption {
        grid-column: 1 / -1;
        font-size: 12px;
        color: var(--muted);
      }
      .pair-label {
        font-size: 11px;
        color: var(--muted);
        text-align: center;
      }
      .mouths {
        display: grid;
        grid-template-columns: repeat(2, minmax(0, 220px));
        gap: 8px;
      }
      .note {
        font-size: 12px;
        margin: 10px 0 0;
      }
      @media (max-width: 520px) {
        .frames {
          grid-template-columns: minmax(0, 1fr);
        }
      }
    `,
  ];

  override render() {
    const can = this.canValidate();
    return html`
      <section class="panel" aria-labelledby="val-h" data-testid="validation-panel">
        <header>
          <h2 id="val-h">Validation</h2>
          <button
            class="primary"
            type="button"
            data-testid="validate-now"
            aria-disabled=${can.ok ? 'false' : 'true'}
            aria-describedby="val-why"
            @click=${() => can.ok && this.fire('validate-now')}
          >
            ${this.busy ? 'Validating…' : 'Validate now'}
          </button>
        </header>
        <p class="why muted" id="val-why" data-testid="validation-why">${can.why}</p>
        <div role="alert" data-testid="validation-error">${this.error ? this.renderError(this.error) : null}</div>
        ${this.shown ? this.renderResult(this.shown) : this.renderEmpty()}
      </section>
    `;
  }

  private renderError(f: EngineFailure) {
    return html`<div class="error" data-code=${f.code}>
      <p><strong>Validation failed:</strong> ${f.message}</p>
      <p>${f.action}</p>
      <button type="button" @click=${() => this.fire('dismiss-validation-error')}>Dismiss</button>
    </div>`;
  }

  private renderEmpty() {
    const every = this.validateEvery ?? 0;
    const when = every > 0 ? `every ${fmtCount(every)} steps of a run` : 'when a run validates (set "Validate every N steps" before starting)';
    return html`<p class="empty muted" data-testid="validation-empty">
      Ground truth next to generated frames, the mouth enlarged, and PSNR appear here ${when}, or when you press Validate now during a run.
    </p>`;
  }

  private renderResult(r: TrainValidation) {
    const pct = r.budget > 0 && Number.isFinite(r.budget) ? Math.min(100, (100 * r.peakBytes) / r.budget) : 0;
    const planPct = r.plannedPeak !== null && r.budget > 0 && Number.isFinite(r.budget) ? Math.min(100, (100 * r.plannedPeak) / r.budget) : null;
    return html`
      ${this.results.length > 1
        ? html`<div class="picker" role="group" aria-label="Validations of this run">
            ${this.results.map(
              (x) =>
                html`<button type="button" aria-pressed=${x === r ? 'true' : 'false'} @click=${() => this.fire('select-validation', x)}>
                  step ${fmtCount(x.step)}${x.trigger === 'request' ? ' (asked)' : ''}
                </button>`,
            )}
          </div>`
        : null}
      <dl class="stats">
        ${stat('validation-step', 'Step', fmtCount(r.step), r.step)}
        ${stat('validation-psnr', 'PSNR', fmtPsnr(r.psnr), r.psnr)}
        ${stat('validation-mouth-l1', 'Mouth L1', r.mouthL1.toFixed(4), r.mouthL1)}
        ${stat('validation-time', 'Time', fmtDuration(r.ms / 1000), r.ms)}
      </dl>
      <div
        class="meter"
        role="meter"
        aria-label="Validation peak against the budget"
        aria-valuemin="0"
        aria-valuemax=${r.budget}
        aria-valuenow=${r.peakBytes}
        aria-valuetext="${fmtBytes(r.peakBytes)} of ${fmtBytes(r.budget)}"
      >
        <div class="fill" style="width:${pct.toFixed(2)}%"></div>
        ${planPct !== null ? html`<div class="plan" style="left:calc(${planPct.toFixed(2)}% - 1px)"></div>` : null}
      </div>
      <p class="peak muted" data-testid="validation-peak" data-value=${r.peakBytes}>
        Peak <span class="num">${fmtBytes(r.peakBytes)}</span> of the <span class="num">${fmtBytes(r.budget)}</span> budget (${fmtShare(r.peakBytes, r.budget)}), training's
        buffers included${r.plannedPeak !== null ? html`; planned <span class="num">${fmtBytes(r.plannedPeak)}</span> (the line)` : '; not in the plan (the run was planned without validation)'}.
        ${r.tile !== null ? `Tiled decode, tile edge ${r.tile}.` : ''}
      </p>
      <h3>Frames: ground truth | generated</h3>
      <ul class="frames">
        ${r.frames.map(
          (f) => html`<li>
            <figure>
              <figcaption>Frame ${f.index + 1}</figcaption>
              <rgb-canvas .rgb=${f.truth} width=${f.size.width} height=${f.size.height} label="Ground truth, frame ${f.index + 1}"></rgb-canvas>
              <rgb-canvas .rgb=${f.generated} width=${f.size.width} height=${f.size.height} label="Generated, frame ${f.index + 1}"></rgb-canvas>
              <span class="pair-label">truth</span><span class="pair-label">generated</span>
            </figure>
          </li>`,
        )}
      </ul>
      ${r.frames.length ? this.renderMouth(r) : null}
      <p class="note muted" data-testid="validation-reference">${referenceNote(r)}</p>
    `;
  }

  /** The first frame's generated region, enlarged pixel for pixel, truth beside it. */
  private renderMouth(r: TrainValidation) {
    const f = r.frames[0];
    return html`
      <h3>Mouth, frame ${f.index + 1}, enlarged: ground truth | generated</h3>
      <div class="mouths" data-testid="validation-mouth">
        <rgb-canvas .rgb=${f.truth} width=${f.size.width} height=${f.size.height} .crop=${r.mouth} label="Ground truth mouth, enlarged"></rgb-canvas>
        <rgb-canvas .rgb=${f.generated} width=${f.size.width} height=${f.size.height} .crop=${r.mouth} label="Generated mouth, enlarged"></rgb-canvas>
      </div>
    `;
  }

  private canValidate(): { ok: boolean; why: string } {
    if (!this.ready) return { ok: false, why: 'Waiting for the engine.' };
    if (this.busy) return { ok: false, why: 'Validating: sampling with DDIM, then decoding in tiles inside the budget…' };
    const s = this.runState;
    if (s === 'running' || s === 'pausing') return { ok: true, why: 'Runs between two steps; training waits for it.' };
    if (s === 'paused') return { ok: true, why: 'Runs now with the paused model.' };
    if (s === 'stopping') return { ok: false, why: 'The run is stopping.' };
    if (s === 'done' || s === 'stopped' || s === 'failed')
      return { ok: false, why: 'The run has ended and released its model: start a run, or restore a checkpoint, to validate.' };
    return { ok: false, why: 'Start a run first: validation samples with the run’s model.' };
  }

  private fire(name: string, detail?: unknown) {
    this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
  }
}

function stat(id: string, label: string, text: string, value: number) {
  return html`<div class="stat"><dt>${label}</dt><dd class="num" data-testid=${id} data-value=${String(value)}>${text}</dd></div>`;
}

/** PSNR in dB; identical images have an infinite PSNR. */
function fmtPsnr(db: number): string {
  return Number.isFinite(db) ? `${db.toFixed(2)} dB` : '∞ dB';
}

function referenceNote(r: TrainValidation): string {
  const truth =
    r.reference === 'frames'
      ? 'Ground truth: the dataset’s own frames.'
      : 'Ground truth: the VAE’s decode of the clip’s true latents (no frames are stored for these clips), so PSNR measures the UNet alone.';
  const vae = r.vae === 'seeded' ? ' Synthetic clips: a VAE with seeded, untrained weights decodes both, so the pictures are not faces.' : '';
  const sampling = ` ${r.sampling.steps} DDIM steps, guidance ${r.sampling.guidance}, seed ${r.sampling.seed}; outside the mouth the generated frame is the truth (LatentSync’s composite).`;
  return truth + vae + sampling;
}

customElements.define('validation-gallery', ValidationGallery);

declare global {
  interface HTMLElementTagNameMap {
    'validation-gallery': ValidationGallery;
  }
}
