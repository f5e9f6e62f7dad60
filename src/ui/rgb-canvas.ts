import { css, html, LitElement } from 'lit';

export interface PixelBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * RGB bytes (row-major [height, width, 3]) drawn on a canvas at their own resolution, or only the `crop`
 * box of them, and scaled up by CSS with nearest-neighbour sampling: tiny validation frames stay crisp and
 * every pixel the model made can be seen. The host's width decides the size; the height follows the ratio.
 */
export class RgbCanvas extends LitElement {
  static override properties = {
    rgb: { attribute: false },
    width: { type: Number },
    height: { type: Number },
    crop: { attribute: false },
    label: { type: String },
  };
  declare rgb: Uint8Array | null;
  declare width: number;
  declare height: number;
  declare crop: PixelBox | null;
  declare label: string;

  constructor() {
    super();
    this.rgb = null;
    this.width = 0;
    this.height = 0;
    this.crop = null;
    this.label = '';
  }

  static override styles = css`
    :host {
      display: block;
      min-width: 0;
    }
    canvas {
      display: block;
      width: 100%;
      height: auto;
      image-rendering: pixelated;
      background: #000;
      border-radius: 4px;
    }
  `;

  override render() {
    const box = this.box();
    return html`<canvas role="img" aria-label=${this.label} width=${box.width} height=${box.height}></canvas>`;
  }

  protected override updated() {
    const canvas = this.renderRoot.querySelector('canvas');
    const rgb = this.rgb;
    if (!canvas || !rgb || rgb.length < this.width * this.height * 3) return;
    const box = this.box();
    if (box.width < 1 || box.height < 1) return;
    const image = new ImageData(box.width, box.height);
    for (let y = 0; y < box.height; y++)
      for (let x = 0; x < box.width; x++) {
        const src = ((box.y + y) * this.width + box.x + x) * 3;
        const dst = (y * box.width + x) * 4;
        image.data[dst] = rgb[src];
        image.data[dst + 1] = rgb[src + 1];
        image.data[dst + 2] = rgb[src + 2];
        image.data[dst + 3] = 255;
      }
    canvas.getContext('2d')?.putImageData(image, 0, 0);
  }

  /** The crop clamped inside the image, or the whole image. */
  private box(): PixelBox {
    const c = this.crop;
    if (!c) return { x: 0, y: 0, width: this.width, height: this.height };
    const x = Math.max(0, Math.min(this.width, Math.floor(c.x)));
    const y = Math.max(0, Math.min(this.height, Math.floor(c.y)));
    return { x, y, width: Math.max(0, Math.min(this.width - x, Math.floor(c.width))), height: Math.max(0, Math.min(this.height - y, Math.floor(c.height))) };
  }
}

customElements.define('rgb-canvas', RgbCanvas);

declare global {
  interface HTMLElementTagNameMap {
    'rgb-canvas': RgbCanvas;
  }
}
