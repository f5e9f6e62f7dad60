import { css, html, LitElement, type PropertyValues } from 'lit';
import type uPlot from 'uplot';
import type { MemorySample } from '../worker/api.ts';
import { fmtBytes } from './format.ts';
import { CATEGORY_COLORS, categoryColor, tokens } from './styles.ts';
import { axisStyle, STEP_INCRS, themeColors, UplotHost, uplotStyles, withAlpha } from './uplot-host.ts';

const HEIGHT = 200;

/**
 * Live bytes per category over the run, stacked: inside each step the peak of every phase (forward and
 * backward, optimizer, readback, validation when it runs), then what stays after the step. The planned peak
 * and the budget are drawn as lines. A new samples array means a new run.
 */
export class MemoryTimeline extends LitElement {
  static override properties = {
    samples: { attribute: false },
    version: { type: Number },
    plannedPeak: { attribute: false },
    budget: { attribute: false },
    hover: { state: true },
  };
  declare samples: MemorySample[];
  declare version: number;
  declare plannedPeak: number | null;
  declare budget: number | null;
  declare hover: MemorySample | null;

  private source: MemorySample[] | null = null;
  private drawn = -1;
  private frame = 0;
  private cats: string[] = [];
  private readonly chart = new UplotHost(HEIGHT, (w, h) => this.options(w, h));

  constructor() {
    super();
    this.samples = [];
    this.version = 0;
    this.plannedPeak = null;
    this.budget = null;
    this.hover = null;
  }

  static override styles = [
    tokens,
    uplotStyles,
    css`
      :host {
        display: block;
        min-width: 0;
      }
      .plot {
        min-width: 0;
        overflow: hidden;
        min-height: ${HEIGHT}px;
      }
      .empty {
        display: grid;
        place-items: center;
        text-align: center;
        height: ${HEIGHT}px;
        border: 1px dashed var(--border);
        border-radius: 8px;
        margin: 0;
        padding: 0 12px;
        color: var(--muted);
      }
      .legend {
        display: flex;
        flex-wrap: wrap;
        gap: 4px 14px;
        font-size: 12px;
        color: var(--muted);
        margin: 6px 0 0;
        padding: 0;
        list-style: none;
      }
      .sw {
        display: inline-block;
        width: 10px;
        height: 10px;
        border-radius: 2px;
        margin-right: 5px;
        vertical-align: -1px;
      }
      .line {
        display: inline-block;
        width: 14px;
        height: 0;
        margin-right: 5px;
        vertical-align: 3px;
        border-top: 2px dashed var(--text);
      }
      .line.budget {
        border-top: 2px solid var(--danger);
      }
      .readout {
        font-size: 12px;
        min-height: 1.45em;
        margin: 4px 0 0;
        font-family: var(--mono);
        white-space: nowrap;
        overflow: hidden;
        text-overflow: ellipsis;
      }
    `,
  ];

  override disconnectedCallback() {
    super.disconnectedCallback();
    cancelAnimationFrame(this.frame);
    this.chart.reset();
  }

  protected override willUpdate(changed: PropertyValues<this>) {
    if (changed.has('samples') && this.samples !== this.source) {
      this.source = this.samples;
      this.chart.reset();
      this.drawn = -1;
      this.hover = null;
    }
  }

  override render() {
    const s = this.samples;
    if (!s.length) return html`<p class="empty" data-testid="timeline-empty">Live bytes per category appear here, step by step, once a run starts.</p>`;
    const last = s[s.length - 1];
    const top = s.reduce((a, b) => (b.live > a.live ? b : a));
    const label = `Live GPU bytes over ${last.step} steps: highest ${fmtBytes(top.live)} (step ${top.step}, ${top.phase}); after the last step ${fmtBytes(last.live)}.`;
    const budgetOff = this.budget !== null && !this.budgetOnScale();
    return html`
      <div class="plot" role="img" aria-label=${label} data-testid="timeline-plot" data-samples=${s.length} data-top=${top.live}></div>
      <p class="readout muted" aria-hidden="true">${this.hover ? readout(this.hover) : 'Point at the chart to see a moment of a step.'}</p>
      <ul class="legend">
        ${this.categories().map((c) => html`<li><span class="sw" style="background:${categoryColor(c)}"></span>${c}</li>`)}
        ${this.plannedPeak !== null ? html`<li><span class="line"></span>planned peak ${fmtBytes(this.plannedPeak)}</li>` : null}
        ${this.budget !== null ? html`<li><span class="line budget"></span>budget ${fmtBytes(this.budget)}${budgetOff ? ' (above the chart)' : ''}</li>` : null}
      </ul>
    `;
  }

  protected override updated() {
    if (!this.samples.length || this.drawn === this.version) return;
    this.drawn = this.version;
    cancelAnimationFrame(this.frame);
    this.frame = requestAnimationFrame(() => {
      const cats = this.categories();
      if (cats.join() !== this.cats.join()) {
        // A category appeared (validation, say): the series change, so the chart is built again.
        this.cats = cats;
        this.chart.reset();
      }
      this.chart.draw(this.renderRoot.querySelector('.plot'), this.data());
    });
  }

  /** Categories that held bytes at some point, in the ledger's stacking order. */
  private categories(): string[] {
    const used = new Set<string>();
    for (const s of this.samples) for (const [c, b] of Object.entries(s.byCategory)) if (b > 0) used.add(c);
    const order = Object.keys(CATEGORY_COLORS);
    return [...used].sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
  }

  /** x, then the running sums from the top category down (uPlot paints in series order: the tallest first). */
  private data(): uPlot.AlignedData {
    const x = this.samples.map((s) => s.x);
    const sums: number[][] = [];
    let acc = this.samples.map(() => 0);
    for (const c of this.cats) {
      acc = acc.map((v, i) => v + (this.samples[i].byCategory[c as keyof MemorySample['byCategory']] ?? 0));
      sums.push(acc);
    }
    return [x, ...sums.reverse()];
  }

  private budgetOnScale(): boolean {
    const top = Math.max(0, ...this.samples.map((s) => s.live), this.plannedPeak ?? 0);
    return this.budget !== null && this.budget <= top * 1.6;
  }

  private options(width: number, height: number): uPlot.Options {
    const c = themeColors(this);
    const axis = axisStyle(this);
    const cats = [...this.cats].reverse();
    return {
      width,
      height,
      legend: { show: false },
      cursor: { drag: { x: true, y: false }, points: { show: false } },
      scales: {
        x: { time: false },
        y: {
          range: (_u, _min, max) => {
            const lines = [this.plannedPeak ?? 0, this.budgetOnScale() ? (this.budget ?? 0) : 0];
            return [0, Math.max(max, ...lines, 1) * 1.08];
          },
        },
      },
      axes: [
        { ...axis, label: 'step', labelSize: 16, labelFont: axis.font, size: 36, incrs: STEP_INCRS },
        { ...axis, size: 64, values: (_u, ticks) => ticks.map((t) => fmtBytes(t)) },
      ],
      series: [
        { label: 'step' },
        ...cats.map((cat) => ({ label: cat, stroke: c.panel, fill: categoryColor(cat), width: 1, points: { show: false } })),
      ],
      hooks: {
        draw: [(u: uPlot) => this.drawLines(u, c.fg, c.danger)],
        setCursor: [
          (u: uPlot) => {
            const i = u.cursor.idx;
            this.hover = i === null || i === undefined ? null : (this.samples[i] ?? null);
          },
        ],
      },
    };
  }

  /** The planned peak (dashed) and the budget (solid, when it is on the scale) across the plot. */
  private drawLines(u: uPlot, fg: string, danger: string) {
    const ctx = u.ctx;
    const { left, width } = u.bbox;
    const line = (bytes: number, color: string, dash: number[]) => {
      const y = Math.round(u.valToPos(bytes, 'y', true)) + 0.5;
      ctx.save();
      ctx.strokeStyle = color;
      ctx.lineWidth = 2 * devicePixelRatio;
      ctx.setLineDash(dash.map((d) => d * devicePixelRatio));
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + width, y);
      ctx.stroke();
      ctx.restore();
    };
    if (this.plannedPeak !== null) line(this.plannedPeak, withAlpha(fg, 0.7), [6, 4]);
    if (this.budget !== null && this.budgetOnScale()) line(this.budget, danger, []);
  }
}

function readout(s: MemorySample): string {
  const parts = Object.entries(s.byCategory)
    .filter(([, b]) => b > 0)
    .map(([c, b]) => `${c} ${fmtBytes(b)}`);
  // Inside a step, what runs outside the named phases is the loss readback.
  const phase = s.phase === 'idle' ? 'readback' : s.phase;
  return `step ${s.step} · ${phase} · live ${fmtBytes(s.live)} (${parts.join(', ')})`;
}

customElements.define('memory-timeline', MemoryTimeline);

declare global {
  interface HTMLElementTagNameMap {
    'memory-timeline': MemoryTimeline;
  }
}
