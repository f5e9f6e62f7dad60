import { css, html, LitElement } from 'lit';
import type { LedgerSnapshot } from '../worker/api.ts';
import './budget-form.ts';
import { fmtBytes, fmtCount } from './format.ts';
import './memory-bar.ts';
import './phase-peaks.ts';
import { categoryColor, panel, tokens } from './styles.ts';

/** The ledger as the worker last pushed it: totals, the stacked bar, bytes per category, peaks per phase. */
export class MemoryPanel extends LitElement {
  static override properties = { snapshot: { attribute: false }, budgetError: { attribute: false }, failed: { type: Boolean } };
  declare snapshot: LedgerSnapshot | null;
  declare budgetError: string | null;
  /** The engine stopped: the last snapshot (if any) stays, marked as no longer live. */
  declare failed: boolean;

  constructor() {
    super();
    this.snapshot = null;
    this.budgetError = null;
    this.failed = false;
  }

  static override styles = [
    tokens,
    panel,
    css`
      :host {
        display: block;
      }
      h2 {
        white-space: nowrap;
      }
      .phase {
        font-size: 12px;
      }
      .stats {
        display: grid;
        grid-template-columns: repeat(auto-fit, minmax(104px, 1fr));
        gap: 8px;
        margin: 0;
      }
      /* the shared readout tile (styles.ts), a little larger: these are the page's headline numbers */
      .stat {
        padding: 8px 10px;
      }
      .stat dd {
        font-size: 16px;
      }
      .stat.budget dd {
        color: var(--danger);
      }
      .swatch {
        display: inline-block;
        width: 10px;
        height: 10px;
        border-radius: 3px;
        margin-right: 8px;
        vertical-align: -1px;
      }
      .pool {
        background: repeating-linear-gradient(135deg, #94a3b8 0 3px, #cbd5e1 3px 6px);
      }
      tr.zero td,
      tr.zero th {
        color: var(--muted);
        opacity: 0.7;
      }
      .cols {
        display: grid;
        grid-template-columns: minmax(0, 1fr) minmax(0, 1fr);
        gap: 0 24px;
      }
      @media (max-width: 1100px) {
        .cols {
          grid-template-columns: minmax(0, 1fr);
        }
      }
      memory-bar {
        margin-top: 14px;
      }
      budget-form {
        margin-top: 14px;
      }
    `,
  ];

  override render() {
    const s = this.snapshot;
    return html`
      <section class="panel" aria-labelledby="mem-h" aria-busy=${s ? 'false' : 'true'}>
        <header>
          <h2 id="mem-h">GPU memory</h2>
          ${s && this.failed ? html`<span class="phase muted">last known state; the engine has stopped</span>` : null}
          ${s && !this.failed ? html`<span class="phase muted">phase <strong>${s.phase}</strong> · ${plural(s.buffers, 'live buffer')} · ${fmtCount(s.pooledBuffers)} pooled</span>` : null}
        </header>
        ${s ? this.renderLedger(s) : html`<p class="muted">${this.failed ? 'The engine has no GPU, so no memory is in use.' : 'Waiting for the engine’s ledger…'}</p>`}
      </section>
    `;
  }

  private renderLedger(s: LedgerSnapshot) {
    const stat = (key: string, label: string, bytes: number, cls = '') =>
      html`<div class="stat ${cls}"><dt>${label}</dt><dd class="num" data-testid=${key} data-bytes=${bytes}>${fmtBytes(bytes)}</dd></div>`;
    return html`
      <dl class="stats">
        ${stat('live', 'Live', s.live)} ${stat('pooled', 'Pooled', s.pooled)} ${stat('held', 'Held', s.held)}
        ${stat('peak', 'Peak', s.peak)} ${stat('budget', 'Budget', s.budget, 'budget')}
      </dl>
      <memory-bar .snapshot=${s}></memory-bar>
      ${this.failed ? null : html`<budget-form .budget=${s.budget} .error=${this.budgetError}></budget-form>`}
      <div class="cols">
        <div>
          <h3>By category</h3>
          <div class="scroll-x">
            <table data-testid="categories">
              <thead>
                <tr><th scope="col">Category</th><th scope="col" class="num">Live</th><th scope="col" class="num">Peak</th></tr>
              </thead>
              <tbody>
                ${Object.entries(s.liveByCategory).map(
                  ([c, b]) => html`<tr data-category=${c} class=${b === 0 && s.peakByCategory[c as keyof typeof s.peakByCategory] === 0 ? 'zero' : ''}>
                    <th scope="row"><span class="swatch" style="background:${categoryColor(c)}"></span>${c}</th>
                    <td class="num">${fmtBytes(b)}</td>
                    <td class="num">${fmtBytes(s.peakByCategory[c as keyof typeof s.peakByCategory])}</td>
                  </tr>`,
                )}
                <tr data-category="pool">
                  <th scope="row"><span class="swatch pool"></span>pool <span class="muted">(held, reusable)</span></th>
                  <td class="num">${fmtBytes(s.pooled)}</td>
                  <td class="num muted">—</td>
                </tr>
              </tbody>
            </table>
          </div>
        </div>
        <div>
          <h3>Peak per phase</h3>
          <phase-peaks .snapshot=${s}></phase-peaks>
        </div>
      </div>
    `;
  }
}
const plural = (n: number, noun: string) => `${fmtCount(n)} ${noun}${n === 1 ? '' : 's'}`;

customElements.define('memory-panel', MemoryPanel);

declare global {
  interface HTMLElementTagNameMap {
    'memory-panel': MemoryPanel;
  }
}
