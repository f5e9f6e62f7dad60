import { css, unsafeCSS } from 'lit';
import uPlot from 'uplot';
import uplotCss from 'uplot/dist/uPlot.min.css?inline';

/** uPlot's stylesheet, for shadow roots (the page's stylesheet does not reach into them). */
export const uplotStyles = [
  unsafeCSS(uplotCss),
  css`
    .uplot {
      width: 100%;
      font-family: var(--sans);
    }
    .u-legend {
      display: none;
    }
    .u-select {
      background: color-mix(in srgb, var(--accent) 12%, transparent);
    }
  `,
];

/** Canvas colours from the element's custom properties (a canvas cannot read CSS variables itself). */
export function themeColors(el: Element) {
  const cs = getComputedStyle(el);
  const v = (name: string, fallback: string) => cs.getPropertyValue(name).trim() || fallback;
  return { text: v('--muted', '#5d6672'), grid: v('--faint', '#eef0f3'), accent: v('--accent', '#4338ca'), danger: v('--danger', '#b91c1c'), fg: v('--text', '#1a1e24'), panel: v('--panel', '#ffffff') };
}

/** Tick steps for a step axis: whole steps only. */
export const STEP_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7];

/** A #rrggbb colour at `a` opacity, for canvas strokes and fills. */
export function withAlpha(color: string, a: number): string {
  const m = /^#([0-9a-f]{6})$/i.exec(color.trim());
  if (!m) return color;
  const n = parseInt(m[1], 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
}

export function axisStyle(el: Element): Pick<uPlot.Axis, 'stroke' | 'grid' | 'ticks' | 'font'> {
  const c = themeColors(el);
  return {
    stroke: c.text,
    grid: { stroke: c.grid, width: 1 },
    ticks: { stroke: c.grid, width: 1 },
    font: '11px system-ui, sans-serif',
  };
}

/**
 * One uPlot chart in `container`, sized to it and resized with it. `make` builds the options for a width;
 * the chart is created on first data and kept (setData) afterwards.
 */
export class UplotHost {
  plot: uPlot | null = null;
  private observer: ResizeObserver | null = null;
  private width = 0;

  constructor(
    private readonly height: number,
    private readonly make: (width: number, height: number) => uPlot.Options,
  ) {}

  /** Draws `data` (x first); creates the chart the first time the container has a width. */
  draw(container: HTMLElement | null, data: uPlot.AlignedData): void {
    if (!container) return;
    this.width = Math.max(200, Math.floor(container.clientWidth));
    if (!this.plot) {
      this.plot = new uPlot(this.make(this.width, this.height), data, container);
      this.observer = new ResizeObserver(() => {
        const w = Math.max(200, Math.floor(container.clientWidth));
        if (this.plot && w !== this.width) {
          this.width = w;
          this.plot.setSize({ width: w, height: this.height });
        }
      });
      this.observer.observe(container);
      return;
    }
    this.plot.setData(data);
  }

  /** Throws the chart away (a new run, a new theme); the next draw builds it again. */
  reset(): void {
    this.observer?.disconnect();
    this.observer = null;
    this.plot?.destroy();
    this.plot = null;
  }
}
