import { css, html, LitElement } from 'lit';
import { FAILURE_TITLES, type EngineFailure } from '../worker/api.ts';
import { panel, tokens } from './styles.ts';

/** Failures as readable messages: what happened, what to do, and details for a bug report. */
export class ErrorBanner extends LitElement {
  static override properties = { failures: { attribute: false } };
  declare failures: EngineFailure[];

  constructor() {
    super();
    this.failures = [];
  }

  static override styles = [
    tokens,
    panel,
    css`
      :host {
        display: grid;
        gap: 8px;
      }
      :host([hidden]) {
        display: none;
      }
      .failure {
        display: grid;
        grid-template-columns: 1fr auto;
        gap: 4px 12px;
        background: var(--danger-soft);
        border: 1px solid color-mix(in srgb, var(--danger) 35%, transparent);
        border-left: 4px solid var(--danger);
        border-radius: var(--radius);
        padding: 12px 14px;
      }
      strong {
        color: var(--danger);
      }
      p {
        margin: 0;
        grid-column: 1;
      }
      .action {
        font-weight: 500;
      }
      details {
        grid-column: 1 / -1;
        color: var(--muted);
        font-size: 12px;
      }
      pre {
        white-space: pre-wrap;
        word-break: break-word;
        font-family: var(--mono);
        margin: 4px 0 0;
      }
      code {
        font-family: var(--mono);
        font-size: 12.5px;
        white-space: nowrap;
        background: var(--panel);
        border: 1px solid var(--border);
        border-radius: 4px;
        padding: 0 4px;
      }
      button {
        grid-column: 2;
        grid-row: 1;
        align-self: start;
      }
    `,
  ];

  override render() {
    return this.failures.map(
      (f, i) => html`
        <section class="failure" role="alert" data-code=${f.code}>
          <strong>${FAILURE_TITLES[f.code] ?? 'Error'}</strong>
          <button type="button" aria-label="Dismiss: ${FAILURE_TITLES[f.code]}" @click=${() => this.dismiss(i)}>Dismiss</button>
          <p>${withCode(f.message)}</p>
          <p class="action">${withCode(f.action)}</p>
          ${f.detail ? html`<details><summary>Details</summary><pre>${f.detail}</pre></details>` : null}
        </section>
      `,
    );
  }

  private dismiss(index: number) {
    this.dispatchEvent(new CustomEvent('dismiss', { detail: index, bubbles: true, composed: true }));
  }
}
/** Command-line flags and chrome:// addresses in advice read better (and copy better) as code. */
function withCode(text: string) {
  return text.split(/((?:--|chrome:\/\/)[\w#/=.-]*[\w#/=-])/).map((part, i) => (i % 2 ? html`<code>${part}</code>` : part));
}

customElements.define('error-banner', ErrorBanner);

declare global {
  interface HTMLElementTagNameMap {
    'error-banner': ErrorBanner;
  }
}
