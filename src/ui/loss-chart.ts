import { css, html, LitElement, type PropertyValues } from 'lit';
import type uPlot from 'uplot';
import type { LossPoint } from '../worker/api.ts';
import { Decimator } from './decimate.ts';
import { fmtCount } from './format.ts';
import { panel, tokens } from './styles.ts';
import { fmtLoss } from './train-format.ts';
import { axisStyle, STEP_INCRS, themeColors, UplotHost, uplotStyles, withAlpha } from './uplot-host.ts';

/** Smoothing of the trend line (TensorBoard's default), debiased at the start. */
const SMOOTHING = 0.9;

/**
 * The loss over steps with uPlot: the raw losses (kept drawable over long runs by min/max decimation) and
 * an exponentially smoothed trend. Points are appended as they arrive; a new array means a new run.
 */
export class LossChart extends LitElement {
  static override properties = { points: { attribute: false }, version: { type: Number } };
  declare points: LossPoint[];
  /** Bumped when points were appended to the same array. */
  declare version: number;

  private decimator = new Decimator();
  private seen = 0;
  private source: LossPoint[] | null = null;
  private ema = 0;
  private emaWeight = 0;
  private last: { step: number; loss: number; smooth: number } | null = null;
  private min = Number.POSITIVE_INFINITY;
  private frame = 0;
  private readonly chart = new UplotHost(220, (width, height) => this.options(width, height));

  constructor() {
    super();
    this.points = [];
    this.version = 0;
  }

  static override styles = [
    tokens,
    panel,
    uplotStyles,
    css`
      :host {
        display: block;
        min-width: 0;
      }
      .summary {
        font-size: 12px;
      }
      .plot {
        min-width: 0;
        overflow: hidden;
        min-height: 220px;
      }
      .empty {
        display: grid;
        place-items: center;
        height: 220px;
        border: 1px dashed var(--border);
        border-radius: 8px;
        margin: 0;
      }
      .key {
        display: flex;
        gap: 14px;
        font-size: 12px;
        margin-top: 4px;
      }
      .key span::before {
        content: '';
        display: inline-block;
        width: 14px;
        height: 0;
        border-top: 2px solid var(--accent);
        margin-right: 6px;
        vertical-align: 3px;
      }
      .key .raw::before {
        border-top: 1px solid color-mix(in srgb, var(--accent) 45%, transparent);
      }
    `,
  ];

  override disconnectedCallback() {
    super.disconnectedCallback();
    cancelAnimationFrame(this.frame);
    this.chart.reset();
  }

  protected override willUpdate(changed: PropertyValues<this>) {
    if (changed.has('points') && this.points !== this.source) this.restart();
    for (; this.seen < this.points.length; this.seen++) this.add(this.points[this.seen]);
  }

  override render() {
    const l = this.last;
    const label = l
      ? `Loss over ${fmtCount(this.decimator.count)} steps: last ${fmtLoss(l.loss)} at step ${l.step}, smoothed ${fmtLoss(l.smooth)}, lowest ${fmtLoss(this.min)}.`
      : 'No loss yet.';
    return html`
      <section class="panel" aria-labelledby="loss-h">
        <header>
          <h2 id="loss-h">Loss</h2>
          ${l
            ? html`<span class="summary muted" data-testid="loss-summary"
                >step <span class="num">${fmtCount(l.step)}</span> · loss <span class="num" data-testid="loss-last" data-value=${l.loss}>${fmtLoss(l.loss)}</span> ·
                smoothed <span class="num">${fmtLoss(l.smooth)}</span> · lowest <span class="num">${fmtLoss(this.min)}</span></span
              >`
            : null}
        </header>
        ${l
          ? html`<div class="plot" role="img" aria-label=${label} data-testid="loss-plot" data-points=${this.decimator.count}></div>
              <div class="key muted" aria-hidden="true"><span class="raw">loss per step</span><span>smoothed</span></div>`
          : html`<p class="empty muted" data-testid="loss-empty">The loss appears here after the first step of a run.</p>`}
      </section>
    `;
  }

  protected override updated() {
    if (!this.last) return;
    // At most one redraw per frame, however many points arrived.
    cancelAnimationFrame(this.frame);
    this.frame = requestAnimationFrame(() => {
      const s = this.decimator.series();
      this.chart.draw(this.renderRoot.querySelector('.plot'), [s.x, s.y, s.z]);
    });
  }

  private restart() {
    this.chart.reset();
    this.decimator = new Decimator();
    this.source = this.points;
    this.seen = 0;
    this.ema = 0;
    this.emaWeight = 0;
    this.last = null;
    this.min = Number.POSITIVE_INFINITY;
  }

  private add(p: LossPoint) {
    // A step skipped on f16 overflow may carry an infinite loss: it is not a point on the curve.
    if (!Number.isFinite(p.loss)) return;
    this.ema = SMOOTHING * this.ema + (1 - SMOOTHING) * p.loss;
    this.emaWeight = SMOOTHING * this.emaWeight + (1 - SMOOTHING);
    const smooth = this.ema / this.emaWeight;
    this.decimator.push(p.step, p.loss, smooth);
    this.min = Math.min(this.min, p.loss);
    this.last = { step: p.step, loss: p.loss, smooth };
  }

  private options(width: number, height: number): uPlot.Options {
    const c = themeColors(this);
    const axis = axisStyle(this);
    return {
      width,
      height,
      legend: { show: false },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: false } },
      axes: [
        { ...axis, label: 'step', labelSize: 16, labelFont: axis.font, size: 36, incrs: STEP_INCRS },
        // uPlot's own tick labels take their decimals from the tick spacing.
        { ...axis, size: 56 },
      ],
      series: [
        { label: 'step' },
        // Dots while there are few points (a line needs two).
        { label: 'loss', stroke: withAlpha(c.accent, 0.45), width: 1, points: { show: few, size: 5 } },
        { label: 'smoothed', stroke: c.accent, width: 2, points: { show: false } },
      ],
    };
  }
}
const few = (u: uPlot) => u.data[0].length < 40;

customElements.define('loss-chart', LossChart);

declare global {
  interface HTMLElementTagNameMap {
    'loss-chart': LossChart;
  }
}
