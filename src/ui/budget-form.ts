import { css, html, LitElement, type PropertyValues } from 'lit';
import { UNITS, type Unit } from './format.ts';
import { panel, tokens } from './styles.ts';

/**
 * Edits the memory budget. Emits `budget-change` (detail: bytes); the app applies it in the engine and
 * hands back `error` when the engine refuses.
 */
export class BudgetForm extends LitElement {
  static override properties = {
    budget: { type: Number },
    error: { attribute: false },
    draft: { state: true },
    unit: { state: true },
  };
  declare budget: number;
  declare error: string | null;
  /** What the user typed and has not applied yet; null shows the current budget. */
  declare draft: string | null;
  declare unit: Unit;

  constructor() {
    super();
    this.budget = 0;
    this.error = null;
    this.draft = null;
    this.unit = 'GiB';
  }

  static override styles = [
    tokens,
    panel,
    css`
      :host {
        display: block;
      }
      form {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 8px;
      }
      label {
        font-weight: 500;
        margin-right: 4px;
      }
      input,
      select {
        border: 1px solid var(--border);
        border-radius: 6px;
        padding: 5px 8px;
        background: var(--panel);
      }
      input {
        width: 8em;
        font-family: var(--mono);
      }
      input[aria-invalid='true'] {
        border-color: var(--danger);
      }
      .help {
        margin: 6px 0 0;
        font-size: 12px;
      }
      .error {
        margin: 6px 0 0;
        color: var(--danger);
      }
    `,
  ];

  protected override willUpdate(changed: PropertyValues<this>) {
    // A new budget from the engine replaces the draft, in the unit that reads best.
    if (changed.has('budget')) {
      this.draft = null;
      if (Number.isFinite(this.budget) && this.budget > 0) this.unit = this.budget >= UNITS.GiB ? 'GiB' : 'MiB';
    }
  }

  override render() {
    const shown = this.draft ?? (Number.isFinite(this.budget) && this.budget > 0 ? trimZeros(this.budget / UNITS[this.unit]) : '');
    return html`
      <form @submit=${this.submit} novalidate>
        <label for="budget">Budget</label>
        <input
          id="budget"
          name="budget"
          type="number"
          min="0"
          step="any"
          inputmode="decimal"
          .value=${shown}
          aria-invalid=${this.error ? 'true' : 'false'}
          aria-describedby="budget-help ${this.error ? 'budget-error' : ''}"
          @input=${(e: Event) => (this.draft = (e.target as HTMLInputElement).value)}
        />
        <select aria-label="Budget unit" .value=${this.unit} @change=${this.changeUnit}>
          ${Object.keys(UNITS).map((u) => html`<option value=${u} ?selected=${u === this.unit}>${u}</option>`)}
        </select>
        <button class="primary" type="submit">Apply</button>
      </form>
      <p id="budget-help" class="help muted">Every GPU buffer is checked against it before the GPU is asked; past it, the request is refused.</p>
      ${this.error ? html`<p id="budget-error" class="error" role="alert" data-testid="budget-error">${this.error}</p>` : null}
    `;
  }

  private changeUnit(e: Event) {
    const next = (e.target as HTMLSelectElement).value as Unit;
    // Keep the amount, not the number: 0.5 GiB becomes 512 MiB.
    const value = Number(this.draft ?? this.budget / UNITS[this.unit]);
    if (Number.isFinite(value)) this.draft = trimZeros((value * UNITS[this.unit]) / UNITS[next]);
    this.unit = next;
  }

  private submit(e: Event) {
    e.preventDefault();
    const raw = (this.renderRoot.querySelector('input') as HTMLInputElement).value.trim();
    const value = Number(raw);
    if (raw === '' || !Number.isFinite(value) || value <= 0) {
      this.error = `Enter a budget above zero, in ${this.unit}.`;
      return;
    }
    this.error = null;
    this.dispatchEvent(new CustomEvent('budget-change', { detail: Math.round(value * UNITS[this.unit]), bubbles: true, composed: true }));
  }
}

const trimZeros = (x: number): string => String(Number(x.toFixed(4)));

customElements.define('budget-form', BudgetForm);

declare global {
  interface HTMLElementTagNameMap {
    'budget-form': BudgetForm;
  }
}
