import { css, html, LitElement } from 'lit';
import type { AutosaveSettings, CheckpointInfo, CheckpointStorage, ResumeOffer, WeightsImport } from '../worker/api.ts';
import type { CheckpointBusy } from './checkpoints-controller.ts';
import { fmtBytes, fmtCount } from './format.ts';
import { panel, tokens } from './styles.ts';
import { fmtLoss } from './train-format.ts';

/**
 * Checkpoints kept in this browser: save now, autosave settings, import weights, and per checkpoint
 * restore (a run that continues exactly), pin, export (.safetensors, .pt) and delete; storage use and a
 * standing resume offer after a lost device. Emits `ck-*` events; the controller makes the calls.
 */
export class CheckpointsPanel extends LitElement {
  static override properties = {
    list: { attribute: false },
    storage: { attribute: false },
    autosave: { attribute: false },
    offer: { attribute: false },
    imported: { attribute: false },
    busy: { attribute: false },
    loaded: { type: Boolean },
    ready: { type: Boolean },
    runLive: { type: Boolean },
    confirming: { state: true },
    partial: { state: true },
  };
  declare list: CheckpointInfo[];
  declare storage: CheckpointStorage | null;
  declare autosave: AutosaveSettings | null;
  declare offer: ResumeOffer | null;
  declare imported: WeightsImport | null;
  declare busy: CheckpointBusy;
  declare loaded: boolean;
  declare ready: boolean;
  /** A run is going or paused (it can be saved). */
  declare runLive: boolean;
  /** The checkpoint whose Delete was pressed once. */
  declare confirming: string | null;
  declare partial: boolean;

  constructor() {
    super();
    this.list = [];
    this.storage = null;
    this.autosave = null;
    this.offer = null;
    this.imported = null;
    this.busy = null;
    this.loaded = false;
    this.ready = false;
    this.runLive = false;
    this.confirming = null;
    this.partial = false;
  }

  static override styles = [
    tokens,
    panel,
    css`
      :host {
        display: block;
        min-width: 0;
      }
      .storage {
        font-size: 12px;
      }
      .bar {
        display: flex;
        flex-wrap: wrap;
        gap: 8px 14px;
        align-items: center;
        margin-bottom: 10px;
      }
      .bar label {
        font-size: 12px;
        color: var(--muted);
        display: inline-flex;
        gap: 6px;
        align-items: center;
      }
      .bar input[type='number'] {
        width: 5em;
        border: 1px solid var(--border);
        border-radius: 6px;
        padding: 4px 6px;
        background: var(--panel);
        font-family: var(--mono);
      }
      .file {
        position: relative;
      }
      .file input {
        position: absolute;
        inset: 0;
        opacity: 0;
        width: 100%;
        cursor: pointer;
      }
      .file:focus-within {
        outline: 2px solid var(--focus);
        outline-offset: 2px;
        border-radius: 6px;
      }
      .filebtn {
        border: 1px solid var(--border);
        background: var(--panel);
        border-radius: 6px;
        padding: 5px 12px;
        color: var(--text);
        font-size: 14px;
      }
      button[aria-disabled='true'] {
        opacity: 0.5;
        cursor: not-allowed;
      }
      td .row-actions {
        display: flex;
        gap: 6px;
        justify-content: flex-end;
      }
      td button {
        padding: 2px 8px;
        font-size: 12px;
      }
      button.danger {
        color: var(--danger);
      }
      button[aria-pressed='true'] {
        background: var(--accent-soft);
        border-color: var(--accent);
      }
      .offer,
      .imported {
        margin: 0 0 10px;
        padding: 8px 10px;
        border-radius: 8px;
        background: var(--faint);
        border-left: 3px solid var(--accent);
      }
      .offer p,
      .imported p {
        margin: 0 0 6px;
      }
      .offer p:last-child,
      .imported p:last-child {
        margin: 0;
      }
      .auto {
        font-size: 11px;
        color: var(--muted);
        margin-left: 6px;
      }
      .empty {
        margin: 0;
      }
      ul.skipped {
        margin: 4px 0 0;
        padding-left: 18px;
        font-size: 12px;
        max-height: 8em;
        overflow: auto;
      }
    `,
  ];

  override render() {
    return html`
      <section class="panel" aria-labelledby="ck-h" data-testid="checkpoints">
        <header>
          <h2 id="ck-h">Checkpoints</h2>
          ${this.renderStorage()}
        </header>
        ${this.renderOffer()}
        <div class="bar">
          ${this.button('Save now', () => this.fire('ck-save'), !this.runLive, 'ck-save', this.busy?.action === 'save' ? 'Saving…' : undefined)}
          ${this.renderAutosave()}
          <span class="file"
            ><span class="filebtn" aria-hidden="true">${this.busy?.action === 'import' ? 'Importing…' : 'Import weights…'}</span
            ><input type="file" aria-label="Import weights (.safetensors or .pt)" accept=".safetensors,.pt,.pth,.bin" data-testid="ck-import" ?disabled=${!this.ready} @change=${this.pick}
          /></span>
          <label><input type="checkbox" .checked=${this.partial} @change=${(e: Event) => (this.partial = (e.target as HTMLInputElement).checked)} /> partial (skip what does not match)</label>
        </div>
        ${this.renderImported()} ${this.renderList()}
      </section>
    `;
  }

  private renderStorage() {
    const s = this.storage;
    if (!s) return null;
    const quota = s.usage !== null && s.quota ? ` · site storage ${fmtBytes(s.usage)} of ${fmtBytes(s.quota)}` : '';
    return html`<span class="storage muted" data-testid="ck-storage"
      >${fmtCount(s.checkpoints)} checkpoint${s.checkpoints === 1 ? '' : 's'}, ${fmtBytes(s.checkpointBytes)}${quota}
      ${s.persisted === false ? html` · <button type="button" @click=${() => this.fire('ck-persist')}>Keep storage</button>` : null}</span
    >`;
  }

  private renderOffer() {
    const o = this.offer;
    if (!o) return null;
    return html`<div class="offer" role="alert" data-testid="ck-offer">
      <p><strong>The run stopped:</strong> ${o.reason.message}</p>
      <p>Its last checkpoint is at step ${fmtCount(o.checkpoint.step)}.${o.deviceReady ? '' : ' The engine needs a GPU again first: reload the page if it does not come back.'}</p>
      <p>
        ${this.button('Resume from it', () => this.fire('ck-restore', o.checkpoint.id), !o.deviceReady, 'ck-resume')}
        <button type="button" @click=${() => this.fire('ck-dismiss-offer')}>Not now</button>
      </p>
    </div>`;
  }

  private renderAutosave() {
    const a = this.autosave;
    if (!a) return null;
    return html`<label
        >Autosave every
        <input type="number" min="1" step="1" .value=${a.everySteps === null ? '' : String(a.everySteps)} placeholder="off" aria-label="Autosave every N steps" @change=${(e: Event) => this.changeAutosave({ everySteps: positiveOrNull(e) })} />
        steps</label
      >
      <label
        >keep
        <input type="number" min="1" step="1" .value=${String(a.keepLast)} aria-label="Autosaves kept per run" @change=${(e: Event) => this.changeAutosave({ keepLast: positiveOrNull(e) ?? a.keepLast })} />
        per run</label
      >`;
  }

  private renderImported() {
    const r = this.imported;
    if (!r) return null;
    return html`<div class="imported" role="status" data-testid="ck-imported">
      <p>
        Loaded ${fmtCount(r.loaded)} tensors from a ${r.format === 'torch' ? 'PyTorch .pt' : '.safetensors'} file${r.globalStep !== null ? ` (step ${r.globalStep})` : ''};
        ${r.appliesTo === 'run' ? 'they are in the paused run now.' : 'they go into the next run.'}
        ${r.renamed.length ? ` ${r.renamed.length} old names were renamed.` : ''}
      </p>
      ${r.skipped.length
        ? html`<p>${r.skipped.length} skipped:</p>
            <ul class="skipped">
              ${r.skipped.map((s) => html`<li><code>${s.name}</code>: ${s.why}${s.shape ? ` [${s.shape.join(', ')}]` : ''}</li>`)}
            </ul>`
        : null}
    </div>`;
  }

  private renderList() {
    if (!this.loaded) return html`<p class="empty muted">${this.ready ? 'Reading the checkpoints…' : 'Waiting for the engine…'}</p>`;
    if (!this.list.length)
      return html`<p class="empty muted" data-testid="ck-empty">
        No checkpoints yet. A run saves ${this.autosave?.everySteps ? `every ${this.autosave.everySteps} steps and ` : ''}when it stops or finishes, and Save now saves at the next step boundary.
      </p>`;
    return html`<div class="scroll-x">
      <table data-testid="ck-list">
        <thead>
          <tr>
            <th scope="col">Checkpoint</th>
            <th scope="col" class="num">Step</th>
            <th scope="col" class="num">Loss</th>
            <th scope="col" class="num">Size</th>
            <th scope="col">Saved</th>
            <th scope="col"><span class="muted">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          ${this.list.map((c) => this.renderRow(c))}
        </tbody>
      </table>
    </div>`;
  }

  private renderRow(c: CheckpointInfo) {
    const busy = this.busy !== null;
    const confirming = this.confirming === c.id;
    return html`<tr data-id=${c.id} data-step=${c.step}>
      <th scope="row">${c.label || c.preset}${c.auto ? html`<span class="auto">auto</span>` : null}</th>
      <td class="num">${fmtCount(c.step)}</td>
      <td class="num">${fmtLoss(c.lastLoss)}</td>
      <td class="num">${fmtBytes(c.bytes)}</td>
      <td>${new Date(c.createdAt).toLocaleString()}</td>
      <td>
        <div class="row-actions">
          ${this.button('Restore', () => this.fire('ck-restore', c.id), busy || this.runLive, `ck-restore-${c.id}`)}
          <button type="button" aria-pressed=${c.pinned ? 'true' : 'false'} aria-label="Pin ${c.label || c.preset} at step ${c.step}" @click=${() => busy || this.fire('ck-pin', { id: c.id, pinned: !c.pinned })}>
            ${c.pinned ? 'Pinned' : 'Pin'}
          </button>
          ${this.button('.safetensors', () => this.fire('ck-export', { c, format: 'safetensors' }), busy, `ck-export-st-${c.id}`)}
          ${this.button('.pt', () => this.fire('ck-export', { c, format: 'pt' }), busy, `ck-export-pt-${c.id}`)}
          <button
            type="button"
            class="danger"
            aria-disabled=${busy || c.pinned ? 'true' : 'false'}
            title=${c.pinned ? 'Unpin it first' : ''}
            @click=${() => this.askDelete(c)}
            @blur=${() => confirming && (this.confirming = null)}
          >
            ${confirming ? 'Confirm delete' : 'Delete'}
          </button>
        </div>
      </td>
    </tr>`;
  }

  /** aria-disabled rather than disabled: a disabled button drops keyboard focus, this one keeps it. */
  private button(label: string, onClick: () => void, off: boolean, id: string, busyLabel?: string) {
    return html`<button type="button" aria-disabled=${off ? 'true' : 'false'} data-testid=${id} @click=${() => off || onClick()}>${busyLabel ?? label}</button>`;
  }

  private askDelete(c: CheckpointInfo) {
    if (this.busy || c.pinned) return;
    if (this.confirming !== c.id) {
      this.confirming = c.id;
      return;
    }
    this.confirming = null;
    this.fire('ck-delete', c.id);
  }

  private pick(e: Event) {
    const input = e.target as HTMLInputElement;
    const file = input.files?.[0];
    input.value = '';
    if (file) this.fire('ck-import', { file, partial: this.partial });
  }

  private changeAutosave(change: Partial<AutosaveSettings>) {
    if (!this.autosave) return;
    this.fire('ck-autosave', { ...this.autosave, ...change });
  }

  private fire(name: string, detail?: unknown) {
    this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
  }
}

function positiveOrNull(e: Event): number | null {
  const n = Number((e.target as HTMLInputElement).value);
  return Number.isInteger(n) && n > 0 ? n : null;
}

customElements.define('checkpoints-panel', CheckpointsPanel);

declare global {
  interface HTMLElementTagNameMap {
    'checkpoints-panel': CheckpointsPanel;
  }
}
