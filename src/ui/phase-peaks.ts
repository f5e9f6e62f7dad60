import { css, html, LitElement } from 'lit';
import type { LedgerSnapshot } from '../worker/api.ts';
import { fmtBytes } from './format.ts';
import { categoryColor, panel, tokens } from './styles.ts';

/** The peak of each named phase (idle, selftest, train-step, validation, ...) and what dominated it. */
export class PhasePeaks extends LitElement {
  static override properties = { snapshot: { attribute: false } };
  declare snapshot: LedgerSnapshot | null;

  constructor() {
    super();
    this.snapshot = null;
  }

  static override styles = [
    tokens,
    panel,
    css`
      :host {
        display: block;
      }
      .dot {
        display: inline-block;
        width: 8px;
        height: 8px;
        border-radius: 2px;
        margin-right: 6px;
      }
      .current {
        font-size: 11px;
        color: var(--accent);
        margin-left: 6px;
      }
    `,
  ];

  override render() {
    const s = this.snapshot;
    if (!s) return null;
    return html`
      <div class="scroll-x">
        <table data-testid="phase-peaks">
          <thead>
            <tr><th scope="col">Phase</th><th scope="col" class="num">Peak</th><th scope="col">Largest category</th></tr>
          </thead>
          <tbody>
            ${Object.entries(s.phases).map(([name, p]) => {
              const [cat, bytes] = Object.entries(p.peakByCategory).reduce((a, b) => (b[1] > a[1] ? b : a), ['', 0]);
              return html`<tr data-phase=${name}>
                <th scope="row">${name}${name === s.phase ? html`<span class="current">current</span>` : null}</th>
                <td class="num">${fmtBytes(p.peak)}</td>
                <td>${bytes > 0 ? html`<span class="dot" style="background:${categoryColor(cat)}"></span>${cat} <span class="num muted">${fmtBytes(bytes)}</span>` : html`<span class="muted">—</span>`}</td>
              </tr>`;
            })}
          </tbody>
        </table>
      </div>
    `;
  }
}
customElements.define('phase-peaks', PhasePeaks);

declare global {
  interface HTMLElementTagNameMap {
    'phase-peaks': PhasePeaks;
  }
}
