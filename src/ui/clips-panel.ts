import { css, html, LitElement, nothing } from 'lit';
import type { ClipMeta, ClipReadiness, FaceBox } from '../worker/api.ts';
import type { ClipsController, PendingClip } from './clips-controller.ts';
import { fmtBytes, fmtCount } from './format.ts';
import { panel, tokens } from './styles.ts';

const RESOLUTIONS = [16, 32, 64, 128, 256, 512];
const VAE_PRESETS = ['vae-tiny', 'sd-vae-ft-mse'];
const STAGES: Record<string, string> = { probe: 'Reading', video: 'Decoding frames', audio: 'Decoding audio', features: 'Audio features', store: 'Storing' };

/**
 * The dataset: drop or pick a clip (or the demo clip), place the face box over its first frame with the
 * lower-face mask drawn in it, add it with progress; thumbnails, per-clip status and errors, the VAE and
 * its latent cache, readiness for training, storage. Calls go through the ClipsController it is given.
 */
export class ClipsPanel extends LitElement {
  static override properties = {
    ctl: { attribute: false },
    version: { type: Number },
    ready: { type: Boolean },
    runLive: { type: Boolean },
    dragging: { state: true },
    vaePreset: { state: true },
  };
  declare ctl: ClipsController | null;
  declare version: number;
  declare ready: boolean;
  /** A run is going: clips and latents stay as they are until it stops. */
  declare runLive: boolean;
  declare dragging: boolean;
  declare vaePreset: string;

  constructor() {
    super();
    this.ctl = null;
    this.version = 0;
    this.ready = false;
    this.runLive = false;
    this.dragging = false;
    this.vaePreset = 'vae-tiny';
  }

  static override styles = [
    tokens,
    panel,
    css`
      :host {
        display: block;
      }
      .storage {
        font-size: 12px;
      }
      .drop {
        border: 2px dashed var(--border);
        border-radius: var(--radius);
        padding: 14px;
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 10px;
      }
      .drop.over {
        border-color: var(--accent);
        background: var(--accent-soft);
      }
      .drop p {
        margin: 0;
        flex: 1 1 220px;
      }
      .file {
        position: relative;
        display: inline-block;
      }
      .file input {
        position: absolute;
        inset: 0;
        opacity: 0;
        width: 100%;
        cursor: pointer;
      }
      .file:focus-within .filebtn {
        outline: 2px solid var(--focus);
        outline-offset: 2px;
      }
      .filebtn {
        display: inline-block;
        border: 1px solid var(--border);
        border-radius: 6px;
        padding: 5px 12px;
        background: var(--panel);
      }
      .pending {
        display: flex;
        flex-wrap: wrap;
        gap: 12px;
        margin-top: 12px;
        align-items: flex-start;
      }
      .pending > div:last-child {
        flex: 1 1 200px;
        min-width: 0;
      }
      .stage {
        flex: 1 1 200px;
        max-width: 300px;
        position: relative;
        background: #000;
        border-radius: 6px;
        overflow: hidden;
        touch-action: none;
        user-select: none;
      }
      .stage video {
        display: block;
        width: 100%;
        height: 100%;
        object-fit: fill;
      }
      .box {
        position: absolute;
        border: 2px solid #facc15;
        box-sizing: border-box;
        cursor: move;
        background-size: 100% 100%;
        image-rendering: pixelated;
      }
      .box:focus-visible {
        outline: 2px solid var(--focus);
        outline-offset: 2px;
      }
      .handle {
        position: absolute;
        right: -7px;
        bottom: -7px;
        width: 12px;
        height: 12px;
        background: #facc15;
        border: 1px solid #000;
        cursor: nwse-resize;
      }
      .facts {
        margin: 0 0 8px;
      }
      .actions {
        display: flex;
        flex-wrap: wrap;
        gap: 8px;
        align-items: center;
      }
      .error {
        background: var(--danger-soft);
        color: var(--danger);
        border-radius: 6px;
        padding: 8px 10px;
        margin-top: 10px;
      }
      .error p {
        margin: 2px 0 0;
        color: var(--text);
      }
      progress {
        width: 100%;
      }
      ul {
        list-style: none;
        margin: 12px 0 0;
        padding: 0;
        display: grid;
        gap: 8px;
      }
      li {
        display: grid;
        grid-template-columns: 56px minmax(0, 1fr) auto;
        gap: 10px;
        align-items: center;
        border-bottom: 1px solid var(--faint);
        padding-bottom: 8px;
      }
      li img {
        width: 56px;
        height: 56px;
        border-radius: 4px;
        image-rendering: pixelated;
        background: var(--faint);
      }
      .name {
        font-weight: 500;
        overflow: hidden;
        text-overflow: ellipsis;
      }
      .ok {
        color: var(--ok);
      }
      .warn {
        color: var(--warn);
      }
      .small {
        font-size: 12px;
      }
      .row {
        display: flex;
        flex-wrap: wrap;
        gap: 8px;
        align-items: center;
        margin-top: 12px;
      }
      select {
        border: 1px solid var(--border);
        border-radius: 6px;
        padding: 4px 6px;
        background: var(--panel);
      }
    `,
  ];

  override render() {
    const c = this.ctl;
    if (!c) return nothing;
    const ds = c.dataset;
    return html`
      <section class="panel" aria-labelledby="clips-h" data-testid="clips">
        <header>
          <h2 id="clips-h">Clips</h2>
          ${this.renderStorage()}
        </header>
        ${ds
          ? html`<p class="muted small" data-testid="clips-dataset">
              Dataset “${ds.name}”: ${ds.config.resolution} px frames, ${ds.config.audio.kind === 'logmel' ? 'log-mel audio' : `audio from ${ds.config.audio.kind}`}, lower face masked.
              <button type="button" class="small" data-testid="clips-remove-dataset" aria-disabled=${this.off(this.runLive) ? 'true' : 'false'} @click=${() => this.off(this.runLive) || c.removeDataset()}>Remove dataset</button>
            </p>`
          : html`<p class="row small">
              <label for="clips-res">New dataset at</label>
              <select id="clips-res" data-testid="clips-resolution" @change=${(e: Event) => (c.resolution = Number((e.target as HTMLSelectElement).value))}>
                ${RESOLUTIONS.map((r) => html`<option value=${r} ?selected=${r === c.resolution}>${r} px</option>`)}
              </select>
              <span class="muted">${c.demoResolution ? `(the demo models take ${c.demoResolution} px)` : ''}</span>
            </p>`}
        ${this.renderDrop()} ${this.renderPending(c.pending)} ${this.renderError()} ${this.renderProgress()} ${this.renderClips()} ${this.renderVae()}
      </section>
    `;
  }

  private renderStorage() {
    const s = this.ctl!.storage;
    if (!s) return null;
    const own = s.datasets.reduce((n, d) => n + d.bytes, 0);
    const quota = s.usage !== null && s.quota ? ` · site storage ${fmtBytes(s.usage)} of ${fmtBytes(s.quota)}` : '';
    return html`<span class="storage muted" data-testid="clips-storage" data-bytes=${own}>clips ${fmtBytes(own)}${quota}</span>`;
  }

  private renderDrop() {
    const off = this.off(false);
    return html`<div
      class="drop ${this.dragging ? 'over' : ''}"
      data-testid="clips-drop"
      @dragover=${(e: DragEvent) => {
        e.preventDefault();
        this.dragging = true;
      }}
      @dragleave=${() => (this.dragging = false)}
      @drop=${this.drop}
    >
      <p>Drop a video of a speaking face here (MP4, WebM or MOV, with its sound), or</p>
      <span class="file"
        ><span class="filebtn" aria-hidden="true">Choose a clip…</span
        ><input type="file" accept="video/*,.mp4,.m4v,.mov,.webm,.mkv" aria-label="Choose a video clip" data-testid="clips-file" ?disabled=${off} @change=${this.pickFile}
      /></span>
      <button type="button" data-testid="clips-demo" aria-disabled=${off ? 'true' : 'false'} @click=${() => off || this.ctl!.pickDemo()}>Use the demo clip</button>
    </div>`;
  }

  private renderPending(p: PendingClip | null) {
    if (!p) return null;
    const c = this.ctl!;
    if (!p.probe) {
      return html`<div class="pending" data-testid="clips-pending" data-state=${p.error ? 'failed' : 'probing'}>
        <div></div>
        <div>
          <p class="facts"><strong>${p.name}</strong> ${p.error ? '' : html`<span class="muted">reading…</span>`}</p>
          ${p.error ? this.failure(p.error, 'clips-pending-error') : null}
          <div class="actions"><button type="button" @click=${c.cancelPending}>${p.error ? 'Dismiss' : 'Cancel'}</button></div>
        </div>
      </div>`;
    }
    const v = p.probe.video;
    const secs = p.probe.durationUs / 1e6;
    const adding = c.busy?.action === 'add';
    return html`<div class="pending" data-testid="clips-pending" data-state="ready">
      ${this.renderBoxEditor(p)}
      <div>
        <p class="facts">
          <strong>${p.name}</strong><br />
          <span class="muted small" data-testid="clips-probe"
            >${v.displayWidth}×${v.displayHeight}, ${v.fps.toFixed(2)} fps, ${secs.toFixed(2)} s, ${v.codec ?? 'unknown codec'}${p.probe.audio
              ? html` + ${p.probe.audio.codec ?? 'audio'}`
              : html`, <span class="warn">no audio track: it can train the VAE, not the UNet (add the clip with its sound)</span>`}</span
          >
        </p>
        <p class="muted small" data-testid="clips-box" data-box=${JSON.stringify(p.box)}>
          Face box ${p.box!.size} px at ${p.box!.x}, ${p.box!.y}. Drag it or its corner; with the box focused, arrow keys move it and + / − resize it. The tinted part is what
          the model learns to generate.
        </p>
        ${p.error ? this.failure(p.error, 'clips-pending-error') : null}
        <div class="actions">
          <button type="button" class="primary" data-testid="clips-add" aria-disabled=${this.off(this.runLive) ? 'true' : 'false'} @click=${() => this.off(this.runLive) || c.add()}>
            ${adding ? 'Adding…' : 'Add to dataset'}
          </button>
          <button type="button" aria-disabled=${adding ? 'true' : 'false'} @click=${() => adding || c.cancelPending()}>Cancel</button>
        </div>
      </div>
    </div>`;
  }

  /** The first frame with the face box over it (in display pixels of the source) and the mask drawn in the box. */
  private renderBoxEditor(p: PendingClip) {
    const { displayWidth: w, displayHeight: h } = p.probe!.video;
    const b = p.box!;
    const pct = (v: number, of: number) => `${(100 * v) / of}%`;
    return html`<div class="stage" style="aspect-ratio: ${w} / ${h}" data-testid="clips-stage">
      <video src=${p.url} muted playsinline preload="auto" aria-label="First frame of ${p.name}"></video>
      <div
        class="box"
        role="slider"
        tabindex="0"
        aria-label="Face box"
        aria-valuetext="${b.size} px square at ${b.x}, ${b.y}"
        data-testid="clips-face-box"
        style="left:${pct(b.x, w)};top:${pct(b.y, h)};width:${pct(b.size, w)};height:${pct(b.size, h)};${this.ctl!.maskOverlay ? `background-image:url(${this.ctl!.maskOverlay})` : ''}"
        @pointerdown=${(e: PointerEvent) => this.drag(e, 'move')}
        @keydown=${this.key}
      >
        <span class="handle" @pointerdown=${(e: PointerEvent) => this.drag(e, 'resize')}></span>
      </div>
    </div>`;
  }

  private renderError() {
    const f = this.ctl!.error;
    return f ? this.failure(f, 'clips-error') : null;
  }

  private failure(f: { message: string; action: string }, id: string) {
    return html`<div class="error" role="alert" data-testid=${id}><strong>${f.message}</strong>
      <p>${f.action}</p></div>`;
  }

  private renderProgress() {
    const b = this.ctl!.busy;
    if (!b) return null;
    if (b.action === 'add' && b.progress) {
      const { stage, done, total } = b.progress;
      return html`<div class="row small" data-testid="clips-progress" data-stage=${stage}>
        <label for="clips-prog">${STAGES[stage] ?? stage} ${total > 1 ? `${fmtCount(done)} / ${fmtCount(total)}` : ''}</label>
        <progress id="clips-prog" max=${Math.max(1, total)} value=${done}></progress>
      </div>`;
    }
    if (b.action === 'cache') {
      return html`<div class="row small" data-testid="clips-progress" data-stage="cache">
        <label for="clips-prog">Encoding latents ${b.total ? `${fmtCount(b.done)} / ${fmtCount(b.total)} frames` : ''}</label>
        <progress id="clips-prog" max=${Math.max(1, b.total)} value=${b.done}></progress>
      </div>`;
    }
    const label = { probe: 'Reading the clip…', vae: 'Loading the VAE…', remove: 'Removing…', dataset: 'Removing the dataset…', add: 'Adding…' }[b.action];
    return html`<p class="row small muted" role="status" data-testid="clips-progress" data-stage=${b.action}>${label}</p>`;
  }

  private renderClips() {
    const c = this.ctl!;
    if (!c.dataset) return null;
    if (!c.clips.length) return html`<p class="muted small" data-testid="clips-empty">No clips yet: drop one above, or use the demo clip.</p>`;
    const byId = new Map(c.readiness.map((r) => [r.clipId, r]));
    const ready = c.readiness.filter((r) => r.unet === null).length;
    return html`<ul data-testid="clips-list">
        ${c.clips.map((clip) => this.renderClip(clip, byId.get(clip.id)))}
      </ul>
      <p class="small" data-testid="clips-ready" data-ready=${ready} data-clips=${c.clips.length}>
        ${ready
          ? html`<span class="ok">${ready} of ${c.clips.length} clip${c.clips.length === 1 ? '' : 's'} can train the UNet</span> (${c.sampleFrames} frame${c.sampleFrames === 1 ? '' : 's'} a sample).`
          : html`<span class="warn">No clip can train the UNet yet.</span> ${c.readiness[0]?.unet ?? ''}`}
      </p>
      <label class="small"
        ><input type="checkbox" data-testid="clips-train-on" .checked=${c.trainOn} ?disabled=${this.runLive} @change=${(e: Event) => c.setTrainOn((e.target as HTMLInputElement).checked)} /> Train on
        this dataset (otherwise runs train on synthetic clips)</label
      >`;
  }

  private renderClip(clip: ClipMeta, r: ClipReadiness | undefined) {
    const thumb = this.ctl!.thumbs.get(clip.id);
    const status = r?.unet === null ? 'ready' : clip.latents ? 'cached' : clip.audio ? 'added' : 'vae-only';
    return html`<li data-testid="clip" data-clip=${clip.id} data-status=${status} data-frames=${clip.frames}>
      ${thumb ? html`<img src=${thumb} alt="Frame of ${clip.name}" />` : html`<img alt="" />`}
      <div>
        <div class="name">${clip.name}</div>
        <div class="small muted num">${fmtCount(clip.frames)} frames · ${(clip.frames / 25).toFixed(2)} s · ${fmtBytes(clip.storedBytes)}${clip.latents ? ' · latents cached' : ''}</div>
        <div class="small ${r?.unet === null ? 'ok' : 'warn'}" data-testid="clip-status">${r?.unet === null ? 'Ready to train' : (r?.unet ?? '')}</div>
        ${clip.warnings.map((w) => html`<div class="small muted">${w}</div>`)}
      </div>
      <button type="button" class="small" aria-label="Remove ${clip.name}" aria-disabled=${this.off(this.runLive) ? 'true' : 'false'} @click=${() => this.off(this.runLive) || this.ctl!.removeClip(clip.id)}>
        Remove
      </button>
    </li>`;
  }

  private renderVae() {
    const c = this.ctl!;
    if (!c.dataset) return null;
    const v = c.vae;
    const off = this.off(this.runLive);
    return html`<div class="row small" data-testid="clips-vae" data-loaded=${v ? v.source : 'none'}>
      <span
        >VAE:
        ${v
          ? html`<strong>${v.source === 'demo' ? 'demo ' : v.source === 'init' ? 'untrained ' : ''}${v.preset}</strong> <span class="muted num">(${fmtCount(v.parameters)} parameters, latents ÷${v.factor})</span>`
          : html`<span class="muted">none loaded: latents need one</span>`}</span
      >
      <button type="button" data-testid="clips-demo-vae" aria-disabled=${off ? 'true' : 'false'} @click=${() => off || c.loadDemoVae()}>Load the demo VAE</button>
      <select aria-label="VAE preset of the file" @change=${(e: Event) => (this.vaePreset = (e.target as HTMLSelectElement).value)}>
        ${VAE_PRESETS.map((p) => html`<option ?selected=${p === this.vaePreset}>${p}</option>`)}
      </select>
      <span class="file"
        ><span class="filebtn" aria-hidden="true">VAE file…</span
        ><input type="file" accept=".safetensors,.pt,.pth,.bin" aria-label="Load VAE weights (.safetensors or .pt)" ?disabled=${off} @change=${this.pickVae}
      /></span>
      <button type="button" class="primary" data-testid="clips-cache" aria-disabled=${off || !v || !c.clips.length ? 'true' : 'false'} @click=${() => off || !v || !c.clips.length || c.cacheLatents()}>
        Cache latents
      </button>
    </div>`;
  }

  /** True when nothing may start now (engine not ready, another clip action going, or `extra`). */
  private off(extra: boolean): boolean {
    return !this.ready || this.ctl?.busy != null || extra;
  }

  private drop(e: DragEvent) {
    e.preventDefault();
    this.dragging = false;
    const file = e.dataTransfer?.files?.[0];
    if (file && !this.off(false)) this.ctl!.pick(file, file.name);
  }

  private pickFile(e: Event) {
    const input = e.target as HTMLInputElement;
    const file = input.files?.[0];
    input.value = '';
    if (file) this.ctl!.pick(file, file.name);
  }

  private pickVae(e: Event) {
    const input = e.target as HTMLInputElement;
    const file = input.files?.[0];
    input.value = '';
    if (file) this.ctl!.loadVaeFile(file, this.vaePreset);
  }

  /** Drags the box (move) or its corner (resize, kept square) in source pixels. */
  private drag(e: PointerEvent, mode: 'move' | 'resize') {
    const p = this.ctl!.pending;
    if (!p?.probe || !p.box) return;
    e.preventDefault();
    e.stopPropagation();
    const stage = this.renderRoot.querySelector('.stage') as HTMLElement;
    const { displayWidth: w, displayHeight: h } = p.probe.video;
    const scale = w / stage.clientWidth;
    const start = { x: e.clientX, y: e.clientY, box: p.box };
    const target = e.currentTarget as HTMLElement;
    target.setPointerCapture(e.pointerId);
    const move = (ev: PointerEvent) => {
      const dx = (ev.clientX - start.x) * scale;
      const dy = (ev.clientY - start.y) * scale;
      const b = start.box;
      // The corner drags the size; the top-left corner stays unless the frame's edge pushes it.
      this.setBox(mode === 'move' ? { x: b.x + dx, y: b.y + dy, size: b.size } : { x: b.x, y: b.y, size: Math.min(b.size + Math.max(dx, dy), w - b.x, h - b.y) }, w, h);
    };
    const up = () => {
      target.removeEventListener('pointermove', move);
      target.removeEventListener('pointerup', up);
      target.removeEventListener('pointercancel', up);
    };
    target.addEventListener('pointermove', move);
    target.addEventListener('pointerup', up);
    target.addEventListener('pointercancel', up);
  }

  private key(e: KeyboardEvent) {
    const p = this.ctl!.pending;
    if (!p?.probe || !p.box) return;
    const step = e.shiftKey ? 16 : 4;
    const b = p.box;
    const moves: Record<string, FaceBox> = {
      ArrowLeft: { ...b, x: b.x - step },
      ArrowRight: { ...b, x: b.x + step },
      ArrowUp: { ...b, y: b.y - step },
      ArrowDown: { ...b, y: b.y + step },
      // Resizing from the keyboard keeps the box's centre.
      '+': { x: b.x - step / 2, y: b.y - step / 2, size: b.size + step },
      '=': { x: b.x - step / 2, y: b.y - step / 2, size: b.size + step },
      '-': { x: b.x + step / 2, y: b.y + step / 2, size: b.size - step },
    };
    const next = moves[e.key];
    if (!next) return;
    e.preventDefault();
    this.setBox(next, p.probe.video.displayWidth, p.probe.video.displayHeight);
  }

  /** Keeps the box a whole-pixel square inside the frame (the engine clamps the same way on add). */
  private setBox(b: FaceBox, w: number, h: number) {
    const size = Math.round(Math.max(Math.min(16, w, h), Math.min(b.size, w, h)));
    const x = Math.round(Math.min(Math.max(0, b.x), w - size));
    const y = Math.round(Math.min(Math.max(0, b.y), h - size));
    this.ctl!.moveBox({ x, y, size });
  }
}

customElements.define('clips-panel', ClipsPanel);

declare global {
  interface HTMLElementTagNameMap {
    'clips-panel': ClipsPanel;
  }
}
