import { css, html, LitElement } from 'lit';
import type { LedgerSnapshot } from '../worker/api.ts';
import { fmtBytes, fmtShare } from './format.ts';
import { categoryColor, tokens } from './styles.ts';

/**
 * Held bytes as one stacked bar: live bytes per category, then the pool, with the budget line and the
 * peak mark. The scale leaves room past the budget so the line never sits on the edge.
 */
export class MemoryBar extends LitElement {
  static override properties = { snapshot: { attribute: false } };
  declare snapshot: LedgerSnapshot | null;

  constructor() {
    super();
    this.snapshot = null;
  }

  static override styles = [
    tokens,
    css`
      :host {
        display: block;
        padding-top: 18px;
      }
      .track {
        position: relative;
        height: 28px;
        border-radius: 6px;
        background: var(--faint);
      }
      .stack {
        display: flex;
        height: 100%;
        border-radius: 6px;
        overflow: hidden;
      }
      .seg {
        flex: 0 0 auto;
        min-width: 3px;
        height: 100%;
        box-shadow: inset -1px 0 0 var(--panel);
      }
      .pool {
        background: repeating-linear-gradient(135deg, #94a3b8 0 4px, #cbd5e1 4px 8px);
      }
      .over {
        position: absolute;
        top: 0;
        bottom: 0;
        right: 0;
        border-radius: 0 6px 6px 0;
        background: repeating-linear-gradient(135deg, transparent 0 5px, color-mix(in srgb, var(--danger) 14%, transparent) 5px 10px);
      }
      .mark {
        position: absolute;
        top: -6px;
        bottom: -6px;
        width: 0;
      }
      .mark.budget {
        border-left: 2px solid var(--danger);
      }
      .mark.peak {
        border-left: 2px dashed var(--text);
        opacity: 0.55;
      }
      .mark span {
        position: absolute;
        bottom: 100%;
        transform: translateX(-50%);
        font-size: 11px;
        white-space: nowrap;
        color: var(--muted);
      }
      .mark.budget span {
        color: var(--danger);
        transform: translateX(-100%);
        padding-right: 4px;
      }
      .dash {
        display: inline-block;
        width: 0;
        height: 10px;
        border-left: 2px dashed var(--text);
        opacity: 0.55;
        margin: 0 2px;
        vertical-align: -1px;
      }
      .caption {
        display: flex;
        justify-content: space-between;
        gap: 12px;
        flex-wrap: wrap;
        margin-top: 8px;
        font-size: 12px;
        color: var(--muted);
      }
    `,
  ];

  override render() {
    const s = this.snapshot;
    if (!s) return html`<div class="track" aria-hidden="true"></div>`;
    const budget = Number.isFinite(s.budget) ? s.budget : 0;
    const scale = Math.max(budget, s.peak, s.held, 1) / 0.92;
    const pct = (n: number) => `${((100 * n) / scale).toFixed(3)}%`;
    const parts = Object.entries(s.liveByCategory).filter(([, b]) => b > 0);
    const label =
      `Held ${fmtBytes(s.held)} of a ${fmtBytes(s.budget)} budget: ` +
      [...parts.map(([c, b]) => `${c} ${fmtBytes(b)}`), `pool ${fmtBytes(s.pooled)}`].join(', ') +
      `. Peak ${fmtBytes(s.peak)}.`;
    return html`
      <div class="track" role="img" aria-label=${label} data-testid="memory-bar">
        ${budget ? html`<div class="over" style="left:${pct(budget)}" title="past the budget: refused"></div>` : null}
        <div class="stack">
          ${parts.map(([c, b]) => html`<div class="seg" style="width:${pct(b)};background:${categoryColor(c)}" title="${c}: ${fmtBytes(b)}"></div>`)}
          ${s.pooled > 0 ? html`<div class="seg pool" style="width:${pct(s.pooled)}" title="pool: ${fmtBytes(s.pooled)}"></div>` : null}
        </div>
        ${s.peak > 0 ? html`<div class="mark peak" style="left:${pct(s.peak)}" title="peak ${fmtBytes(s.peak)}"></div>` : null}
        ${budget ? html`<div class="mark budget" style="left:${pct(budget)}" data-testid="budget-line"><span>budget ${fmtBytes(budget)}</span></div>` : null}
      </div>
      <div class="caption" data-testid="memory-caption">
        <span>0</span>
        <span>${fmtBytes(s.held)} held · ${fmtShare(s.held, s.budget)} of the budget · <span class="dash" aria-hidden="true"></span> peak ${fmtBytes(s.peak)}</span>
        <span>${fmtBytes(scale)}</span>
      </div>
    `;
  }
}
customElements.define('memory-bar', MemoryBar);

declare global {
  interface HTMLElementTagNameMap {
    'memory-bar': MemoryBar;
  }
}
