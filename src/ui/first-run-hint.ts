import { css, html, LitElement } from 'lit';
import { tokens } from './styles.ts';

const STORAGE_KEY = 'latent-lab.first-run-hint-dismissed';

/** A short orientation for a first visit; dismissed once, remembered in localStorage. */
export class FirstRunHint extends LitElement {
  static override properties = { open: { state: true } };
  declare open: boolean;

  constructor() {
    super();
    this.open = readDismissed() !== 'yes';
  }

  static override styles = [
    tokens,
    css`
      :host {
        display: block;
      }
      aside {
        display: flex;
        gap: 16px;
        align-items: flex-start;
        background: var(--accent-soft);
        border: 1px solid color-mix(in srgb, var(--accent) 25%, transparent);
        border-radius: var(--radius);
        padding: 12px 16px;
      }
      div {
        flex: 1;
      }
      strong {
        display: block;
        margin-bottom: 2px;
      }
      p {
        margin: 0;
      }
      .buttons {
        flex: none;
        display: flex;
        gap: 8px;
        flex-wrap: wrap;
      }
      button {
        font: inherit;
        color: inherit;
        border: 1px solid var(--border);
        background: var(--panel);
        border-radius: 6px;
        padding: 5px 12px;
        cursor: pointer;
        white-space: nowrap;
      }
      button:focus-visible {
        outline: 2px solid var(--focus);
        outline-offset: 2px;
      }
    `,
  ];

  override render() {
    if (!this.open) return null;
    return html`
      <aside aria-label="Getting started">
        <div>
          <strong>First time here?</strong>
          <p>
            latent-lab trains lip-sync models on your own GPU, inside a memory budget that it enforces. Check that your GPU
            was found below and set the budget to what the GPU can spare. Then drop a video clip of a speaking face into
            the Clips panel, or try the demo clip: add it, load the demo VAE, cache latents, and start a run.
          </p>
        </div>
        <div class="buttons">
          <button type="button" data-testid="hint-demo" @click=${this.demo}>Try the demo clip</button>
          <button type="button" @click=${this.dismiss}>Got it</button>
        </div>
      </aside>
    `;
  }

  /** Asks the page to load the demo clip into the Clips panel (lab-app handles 'use-demo-clip'). */
  private demo() {
    this.dispatchEvent(new CustomEvent('use-demo-clip', { bubbles: true, composed: true }));
  }

  private dismiss() {
    this.open = false;
    try {
      localStorage.setItem(STORAGE_KEY, 'yes');
    } catch {
      // Storage can be blocked (private mode, policies); the hint then shows again next time.
    }
  }
}

function readDismissed(): string | null {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

customElements.define('first-run-hint', FirstRunHint);

declare global {
  interface HTMLElementTagNameMap {
    'first-run-hint': FirstRunHint;
  }
}
