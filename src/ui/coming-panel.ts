import { css, html, LitElement } from 'lit';
import { panel, tokens } from './styles.ts';

/**
 * A panel whose engine side has not landed yet: its heading, what it will do, and a plain "coming" badge.
 * No placeholder data: a user should never mistake it for a result.
 */
export class ComingPanel extends LitElement {
  static override properties = { heading: { type: String }, note: { type: String } };
  declare heading: string;
  declare note: string;

  constructor() {
    super();
    this.heading = '';
    this.note = '';
  }

  static override styles = [
    tokens,
    panel,
    css`
      :host {
        display: block;
      }
      header {
        display: flex;
        align-items: baseline;
        justify-content: space-between;
        gap: 8px;
      }
      h2 {
        margin-bottom: 6px;
      }
      .badge {
        font-size: 11px;
        text-transform: uppercase;
        letter-spacing: 0.05em;
        color: var(--muted);
        border: 1px dashed var(--border);
        border-radius: 999px;
        padding: 1px 8px;
        white-space: nowrap;
      }
      p {
        margin: 0;
      }
    `,
  ];

  override render() {
    const id = `coming-${this.heading.toLowerCase().replace(/\W+/g, '-')}`;
    return html`
      <section class="panel" aria-labelledby=${id} data-state="coming">
        <header>
          <h2 id=${id}>${this.heading}</h2>
          <span class="badge">coming</span>
        </header>
        <p class="muted">${this.note}</p>
        <slot></slot>
      </section>
    `;
  }
}
customElements.define('coming-panel', ComingPanel);

declare global {
  interface HTMLElementTagNameMap {
    'coming-panel': ComingPanel;
  }
}
