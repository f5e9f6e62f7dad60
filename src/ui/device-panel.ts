import { css, html, LitElement } from 'lit';
import { KEY_LIMITS, type DeviceReport, type SelfTestResult } from '../worker/api.ts';
import { fmtBytes, fmtCount } from './format.ts';
import { panel, tokens } from './styles.ts';

/** Features that change what the engine can do; shown as present or absent. */
const NOTABLE_FEATURES = ['shader-f16', 'timestamp-query', 'subgroups'];

/** The adapter the engine got, the limits that bound tensors and kernels, and the self-test. */
export class DevicePanel extends LitElement {
  static override properties = { report: { attribute: false }, selfTest: { attribute: false }, failed: { type: Boolean } };
  declare report: DeviceReport | null;
  declare selfTest: SelfTestResult | null;
  /** The engine stopped: nothing more will arrive. */
  declare failed: boolean;

  constructor() {
    super();
    this.report = null;
    this.selfTest = null;
    this.failed = false;
  }

  static override styles = [
    tokens,
    panel,
    css`
      :host {
        display: block;
      }
      .name {
        font-size: 18px;
        font-weight: 600;
        margin: 0;
        overflow-wrap: anywhere;
      }
      .sub {
        margin: 2px 0 0;
      }
      .badges {
        display: flex;
        flex-wrap: wrap;
        gap: 6px;
        margin-top: 10px;
      }
      .badge {
        font-size: 12px;
        border-radius: 999px;
        padding: 1px 9px;
        border: 1px solid var(--border);
        color: var(--muted);
      }
      .badge.on {
        color: var(--ok);
        border-color: color-mix(in srgb, var(--ok) 40%, transparent);
        background: var(--ok-soft);
      }
      .badge.warn {
        color: var(--warn);
        border-color: color-mix(in srgb, var(--warn) 40%, transparent);
      }
      dl {
        display: grid;
        grid-template-columns: 1fr auto;
        margin: 0;
      }
      dt,
      dd {
        padding: 5px 0;
        border-bottom: 1px solid var(--faint);
        margin: 0;
      }
      dt {
        color: var(--muted);
      }
      dd {
        text-align: right;
      }
      .selftest {
        margin: 14px 0 0;
      }
      .ok {
        color: var(--ok);
        font-weight: 600;
      }
      .bad {
        color: var(--danger);
        font-weight: 600;
      }
    `,
  ];

  override render() {
    const r = this.report;
    if (!r)
      return html`<section class="panel" aria-labelledby="gpu-h" aria-busy=${this.failed ? 'false' : 'true'}>
        <h2 id="gpu-h">GPU</h2>
        <p class="muted" data-testid="adapter">${this.failed ? 'No GPU: see the message above.' : 'Asking the browser for a GPU…'}</p>
      </section>`;
    const title = r.description || [r.vendor, r.architecture].filter(Boolean).join(' ') || r.name;
    const has = new Set(r.features);
    return html`
      <section class="panel" aria-labelledby="gpu-h">
        <h2 id="gpu-h">GPU</h2>
        <p class="name" data-testid="adapter">${title}</p>
        <p class="sub muted">${[r.vendor, r.architecture, r.device].filter(Boolean).join(' · ') || r.name}</p>
        <div class="badges" aria-label="Adapter features">
          ${r.isFallbackAdapter ? html`<span class="badge warn" title="A CPU implementation: correct, but slow">software adapter</span>` : null}
          ${NOTABLE_FEATURES.map(
            (f) => html`<span class="badge ${has.has(f) ? 'on' : ''}">${f}${has.has(f) ? '' : html`<span class="muted"> (absent)</span>`}</span>`,
          )}
        </div>
        <h3>Limits</h3>
        <dl data-testid="limits">
          ${KEY_LIMITS.map(
            (l) => html`<dt>${l.label}</dt>
              <dd class="num" data-limit=${l.key} title=${`${l.key} = ${r.limits[l.key]}`}>
                ${l.unit === 'bytes' ? fmtBytes(r.limits[l.key]) : fmtCount(r.limits[l.key])}
              </dd>`,
          )}
        </dl>
        ${this.renderSelfTest()}
      </section>
    `;
  }

  private renderSelfTest() {
    const t = this.selfTest;
    if (!t) return html`<p class="selftest muted" data-testid="selftest">${this.failed ? 'Self-test did not run.' : 'Self-test running…'}</p>`;
    return html`<p class="selftest" data-testid="selftest">
      Self-test: <span class=${t.ok ? 'ok' : 'bad'}>${t.ok ? 'passed' : 'FAILED'}</span>
      <span class="muted">· ${fmtCount(t.n)} values, max error ${t.maxError}, ${t.ms.toFixed(0)} ms</span>
    </p>`;
  }
}
customElements.define('device-panel', DevicePanel);

declare global {
  interface HTMLElementTagNameMap {
    'device-panel': DevicePanel;
  }
}
