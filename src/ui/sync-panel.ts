import { css, html, LitElement } from 'lit';
import { FAILURE_TITLES } from '../worker/api.ts';
import { fmtBytes, fmtCount } from './format.ts';
import type { SyncController, SyncSettings } from './sync-controller.ts';
import { panel, tokens } from './styles.ts';

const CONTAINERS: Record<string, string> = { mp4: 'MP4', webm: 'WebM' };
const CODECS: Record<string, string> = { avc: 'H.264', vp9: 'VP9', av1: 'AV1', aac: 'AAC', opus: 'Opus' };

/**
 * Lip sync: load the models (the demo ones or a UNet and a VAE file), pick a video and optionally a
 * separate audio file, set steps, guidance and seed, run with a progress bar and ETA, cancel, and
 * download the result. Every control is a native button or input, so all of it works from the keyboard.
 * The controller makes the calls; this element only shows its state.
 */
export class SyncPanel extends LitElement {
  static override properties = {
    ctl: { attribute: false },
    version: { type: Number },
    ready: { type: Boolean },
  };
  declare ctl: SyncController | null;
  /** The controller's version: a new value re-renders. */
  declare version: number;
  /** The engine is up. */
  declare ready: boolean;
  private unetFile: File | null = null;
  private vaeFile: File | null = null;

  constructor() {
    super();
    this.ctl = null;
    this.version = 0;
    this.ready = false;
  }

  static override styles = [
    tokens,
    panel,
    css`
      :host {
        display: block;
        min-width: 0;
      }
      .cols {
        display: grid;
        grid-template-columns: repeat(auto-fit, minmax(240px, 1fr));
        gap: 12px 18px;
      }
      fieldset {
        border: 1px solid var(--faint);
        border-radius: 8px;
        margin: 0;
        padding: 8px 12px 12px;
        min-width: 0;
        display: grid;
        gap: 8px;
        align-content: start;
      }
      legend {
        font-size: 12px;
        font-weight: 600;
        text-transform: uppercase;
        letter-spacing: 0.04em;
        color: var(--muted);
        padding: 0 4px;
      }
      label {
        display: grid;
        gap: 2px;
        font-size: 12px;
        color: var(--muted);
      }
      input[type='number'] {
        width: 7em;
        border: 1px solid var(--border);
        border-radius: 6px;
        padding: 4px 6px;
        background: var(--panel);
        font-family: var(--mono);
      }
      input[type='file'] {
        font-size: 12px;
        max-width: 100%;
      }
      .row {
        display: flex;
        flex-wrap: wrap;
        gap: 8px;
        align-items: center;
      }
      .settings {
        display: flex;
        flex-wrap: wrap;
        gap: 8px 14px;
      }
      .picked {
        font-size: 13px;
        overflow-wrap: anywhere;
      }
      .help {
        font-size: 12px;
      }
      button[aria-disabled='true'] {
        opacity: 0.5;
        cursor: not-allowed;
      }
      .actions {
        display: flex;
        gap: 8px;
        align-items: center;
        margin-top: 14px;
        flex-wrap: wrap;
      }
      progress {
        width: 100%;
        height: 10px;
        accent-color: var(--accent);
      }
      .progress {
        margin-top: 10px;
        display: grid;
        gap: 4px;
        font-size: 13px;
      }
      .result {
        margin-top: 12px;
        padding: 10px 12px;
        border-radius: 8px;
        background: var(--ok-soft);
        border-left: 3px solid var(--ok);
        display: grid;
        gap: 8px;
      }
      .result p,
      .failure p {
        margin: 0;
      }
      video {
        max-width: 100%;
        max-height: 320px;
        border-radius: 6px;
        background: #000;
      }
      .failure {
        margin-top: 12px;
        padding: 10px 12px;
        border-radius: 8px;
        background: var(--danger-soft);
        border-left: 3px solid var(--danger);
        display: grid;
        gap: 4px;
      }
      .failure strong {
        color: var(--danger);
      }
      .failure .action {
        font-weight: 500;
      }
    `,
  ];

  override render() {
    const c = this.ctl;
    return html`
      <section class="panel" aria-labelledby="sync-h" data-testid="sync">
        <h2 id="sync-h">Lip sync</h2>
        ${c
          ? html`<div class="cols">${this.renderModels()} ${this.renderInputs()} ${this.renderSettings()}</div>
              ${this.renderActions()} ${this.renderProgress()} ${this.renderError()} ${this.renderResult()}`
          : html`<p class="muted">Waiting for the engine…</p>`}
      </section>
    `;
  }

  private renderModels() {
    const c = this.ctl!;
    const m = c.models;
    const off = this.off();
    return html`<fieldset>
      <legend>Models</legend>
      <p class="picked" data-testid="sync-models" aria-live="polite">
        ${c.busy === 'models'
          ? 'Loading the models…'
          : m
            ? html`${m.source === 'demo' ? 'Demo models' : 'Loaded'}: UNet ${m.unet.preset ?? m.unet.name} (${fmtCount(m.unet.parameters)} parameters), VAE
                ${m.vae.preset ?? m.vae.name}; ${m.resolution} px crops, ${m.audio.kind === 'logmel' ? `${m.audio.nMels}-bin log-mel` : m.audio.encoder} audio; ${fmtBytes(m.weightBytes)} on the GPU.`
            : html`<span class="muted">No models loaded.</span>`}
      </p>
      <div class="row">${this.button('Use the demo models', () => c.loadDemoModels(), off, 'sync-demo-models')}</div>
      <label>UNet weights (.safetensors, .pt)<input type="file" accept=".safetensors,.pt,.pth" data-testid="sync-unet-file" @change=${(e: Event) => (this.unetFile = fileOf(e))} /></label>
      <label>VAE weights (.safetensors, .pt)<input type="file" accept=".safetensors,.pt,.pth" data-testid="sync-vae-file" @change=${(e: Event) => (this.vaeFile = fileOf(e))} /></label>
      <div class="row">
        ${this.button('Load these files', () => c.loadModelFiles(this.unetFile, this.vaeFile), off, 'sync-load-files')}
      </div>
    </fieldset>`;
  }

  private renderInputs() {
    const c = this.ctl!;
    const off = this.off();
    return html`<fieldset>
      <legend>Video and audio</legend>
      <label>Video of a face (MP4, MOV, WebM, MKV)<input type="file" accept="video/*,.mp4,.mov,.webm,.mkv" data-testid="sync-video-file" @change=${(e: Event) => c.pickVideo(fileOf(e))} /></label>
      <div class="row">${this.button('Use the demo clip', () => c.useDemoClip(), off, 'sync-demo-clip')}</div>
      <p class="picked" data-testid="sync-video">${c.video ? html`Video: <strong>${c.video.name}</strong>${this.describeVideo()}` : html`<span class="muted">No video picked.</span>`}</p>
      ${this.renderBox()}
      <label>Audio to sync to (optional; the video's own sound otherwise)<input type="file" accept="audio/*,video/*,.wav,.mp3,.m4a,.opus,.ogg" data-testid="sync-audio-file" @change=${(e: Event) => c.pickAudio(fileOf(e))} /></label>
      <p class="picked" data-testid="sync-audio">
        ${c.audio
          ? html`Audio: <strong>${c.audio.name}</strong> ${this.button("Use the video's own audio", () => c.pickAudio(null), off, 'sync-audio-clear')}`
          : html`<span class="muted">Audio: the video's own track.</span>`}
      </p>
    </fieldset>`;
  }

  /** Size, length and sound of the picked video, once the engine has read it. */
  private describeVideo() {
    const p = this.ctl!.video?.probe;
    if (p === undefined) return ' (reading…)';
    if (p === null) return null;
    const v = p.video;
    const sound = p.audio ? `with ${CODECS[p.audio.codec ?? ''] ?? p.audio.codec ?? 'its'} audio` : 'no audio track: pick an audio file';
    return ` (${v.displayWidth}x${v.displayHeight}, ${(p.durationUs / 1e6).toFixed(2)} s, ${sound})`;
  }

  /** The face box as three numbers (keyboard friendly); empty: the centred largest square, shown as placeholders. */
  private renderBox() {
    const c = this.ctl!;
    const v = c.video?.probe?.video;
    const side = v ? Math.min(v.displayWidth, v.displayHeight) : null;
    const centred = v && side ? { x: Math.floor((v.displayWidth - side) / 2), y: Math.floor((v.displayHeight - side) / 2), size: side } : null;
    const box = c.settings.box;
    const field = (key: 'x' | 'y' | 'size', label: string) => html`<label
      >${label}
      <input
        type="number"
        min=${key === 'size' ? 16 : 0}
        step="1"
        class="box-${key}"
        data-testid="sync-box-${key}"
        .value=${box ? String(box[key]) : ''}
        placeholder=${centred ? String(centred[key]) : ''}
        @change=${this.changeBox}
    /></label>`;
    return html`<div role="group" aria-labelledby="sync-box-h" aria-describedby="sync-box-help">
      <span id="sync-box-h" class="picked">Face box (pixels)</span>
      <div class="settings">${field('x', 'x')} ${field('y', 'y')} ${field('size', 'size')}</div>
      <span id="sync-box-help" class="muted help">A square over the face; the mouth is in its lower half. Empty: the centred largest square.</span>
    </div>`;
  }

  private changeBox = () => {
    const read = (key: string) => (this.renderRoot.querySelector(`input.box-${key}`) as HTMLInputElement | null)?.value.trim() ?? '';
    const raw = ['x', 'y', 'size'].map(read);
    if (raw.every((r) => r === '')) this.ctl!.change({ box: null });
    else if (raw.every((r) => r !== '' && Number.isInteger(Number(r)))) {
      const [x, y, size] = raw.map(Number) as [number, number, number];
      this.ctl!.change({ box: { x, y, size } });
    }
    // a box half filled in waits for the rest
  };

  private renderSettings() {
    const s = this.ctl!.settings;
    const num = (key: keyof SyncSettings, label: string, attrs: { min: number; max?: number; step: number }, help: string) => html`<label
      >${label}
      <input
        type="number"
        min=${attrs.min}
        max=${attrs.max ?? ''}
        step=${attrs.step}
        .value=${s[key] === null ? '' : String(s[key])}
        placeholder=${key === 'maxSeconds' ? 'all' : ''}
        aria-describedby="sync-help-${key}"
        data-testid="sync-${key}"
        @change=${(e: Event) => this.changeSetting(key, (e.target as HTMLInputElement).value)}
      />
      <span id="sync-help-${key}">${help}</span></label
    >`;
    return html`<fieldset>
      <legend>Settings</legend>
      <div class="settings">
        ${num('steps', 'DDIM steps', { min: 1, max: 1000, step: 1 }, 'more: finer, slower (20)')}
        ${num('guidance', 'Guidance', { min: 0, step: 0.1 }, 'audio weight; 1 is off (1.5)')}
        ${num('seed', 'Seed', { min: 0, step: 1 }, 'same seed, same video')}
        ${num('maxSeconds', 'First seconds only', { min: 0.04, step: 0.04 }, 'a quick look; empty for all')}
      </div>
    </fieldset>`;
  }

  private renderActions() {
    const c = this.ctl!;
    const running = c.busy === 'run';
    const why = !c.models ? 'Load the models first.' : !c.video ? 'Pick a video first.' : null;
    return html`<div class="actions">
      ${this.button(running ? 'Syncing…' : 'Run lip sync', () => c.run(), this.off() || why !== null, 'sync-run', undefined, 'primary')}
      ${running ? this.button(c.cancelling ? 'Cancelling…' : 'Cancel', () => c.cancel(), c.cancelling, 'sync-cancel') : null}
      ${why && !running ? html`<span class="muted">${why}</span>` : null}
    </div>`;
  }

  private renderProgress() {
    const p = this.ctl!.progress;
    if (!p) return null;
    const text =
      p.stage === 'open'
        ? 'Reading the video and audio…'
        : p.stage === 'finish'
          ? 'Finishing the file…'
          : `Frame ${fmtCount(p.frame)} of ${fmtCount(p.frames)} · chunk ${p.chunk} of ${p.chunks}${p.etaSeconds === null ? '' : ` · about ${fmtEta(p.etaSeconds)} left`} · GPU peak ${fmtBytes(p.peakBytes)}`;
    return html`<div class="progress" data-testid="sync-progress">
      <progress max=${Math.max(1, p.frames)} value=${p.stage === 'open' ? 0 : p.frame} aria-label="Lip sync progress" aria-valuetext=${text}></progress>
      <span role="status">${text}</span>
    </div>`;
  }

  private renderResult() {
    const r = this.ctl!.result;
    if (!r) return null;
    const kind = `${CONTAINERS[r.container] ?? r.container} (${CODECS[r.videoCodec] ?? r.videoCodec} + ${CODECS[r.audioCodec] ?? r.audioCodec})`;
    return html`<div class="result" data-testid="sync-result">
      <p>
        <a href=${r.url} download=${r.fileName} data-testid="sync-download">Download ${r.fileName}</a>
        · ${kind} · ${r.durationSeconds.toFixed(2)} s, ${fmtCount(r.frames)} frames · ${fmtBytes(r.blob.size)} · synced in ${(r.ms / 1000).toFixed(1)} s, GPU peak
        ${fmtBytes(r.peakBytes)}
      </p>
      <video controls src=${r.url} aria-label="The lip-synced video"></video>
    </div>`;
  }

  private renderError() {
    const f = this.ctl!.error;
    if (!f) return null;
    return html`<div class="failure" role="alert" data-testid="sync-error" data-code=${f.code}>
      <strong>${FAILURE_TITLES[f.code] ?? 'Error'}</strong>
      <p>${f.message}</p>
      <p class="action">${f.action}</p>
      <div class="row"><button type="button" @click=${() => this.ctl!.dismissError()}>Dismiss</button></div>
    </div>`;
  }

  private off(): boolean {
    return !this.ready || this.ctl?.busy != null;
  }

  private changeSetting(key: keyof SyncSettings, raw: string) {
    const v = raw.trim() === '' ? null : Number(raw);
    if (key === 'maxSeconds') this.ctl!.change({ maxSeconds: v !== null && v > 0 ? v : null });
    else if (v !== null && Number.isFinite(v)) this.ctl!.change({ [key]: v });
    else this.requestUpdate(); // an empty or invalid entry shows the setting again
  }

  /** aria-disabled rather than disabled: a disabled button drops keyboard focus, this one keeps it. */
  private button(label: string, onClick: () => void, off: boolean, id: string, busyLabel?: string, cls = '') {
    return html`<button type="button" class=${cls} aria-disabled=${off ? 'true' : 'false'} data-testid=${id} @click=${() => off || onClick()}>${busyLabel ?? label}</button>`;
  }
}

function fileOf(e: Event): File | null {
  return (e.target as HTMLInputElement).files?.[0] ?? null;
}

function fmtEta(s: number): string {
  if (s < 60) return `${Math.max(1, Math.round(s))} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

customElements.define('sync-panel', SyncPanel);

declare global {
  interface HTMLElementTagNameMap {
    'sync-panel': SyncPanel;
  }
}
