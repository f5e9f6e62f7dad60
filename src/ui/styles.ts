import { css } from 'lit';

/**
 * Shared look: colour tokens (light and dark), panel and table styles. Custom properties pierce shadow
 * roots, so components only restate what they use.
 */
export const tokens = css`
  :host {
    --bg: #f5f6f8;
    --panel: #ffffff;
    --border: #e2e5ea;
    --text: #1a1e24;
    --muted: #5d6672;
    --faint: #eef0f3;
    --accent: #4338ca;
    --accent-soft: #eef0ff;
    --ok: #047857;
    --ok-soft: #e7f6ef;
    --warn: #b45309;
    --danger: #b91c1c;
    --danger-soft: #fdeeee;
    --focus: #2563eb;
    --radius: 10px;
    --mono: ui-monospace, 'SFMono-Regular', 'DejaVu Sans Mono', Menlo, Consolas, monospace;
    --sans: system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Liberation Sans', sans-serif;
    color: var(--text);
    font-family: var(--sans);
    font-size: 14px;
    line-height: 1.45;
  }
  @media (prefers-color-scheme: dark) {
    :host {
      --bg: #0f1216;
      --panel: #171b21;
      --border: #2a3038;
      --text: #e6e9ee;
      --muted: #9aa4b1;
      --faint: #20262e;
      --accent: #a5b4fc;
      --accent-soft: #23264a;
      --ok: #34d399;
      --ok-soft: #12302a;
      --warn: #fbbf24;
      --danger: #fca5a5;
      --danger-soft: #3a1a1c;
      --focus: #93c5fd;
    }
  }
`;

export const panel = css`
  .panel {
    background: var(--panel);
    border: 1px solid var(--border);
    border-radius: var(--radius);
    padding: 16px 18px;
    min-width: 0;
  }
  /* a panel's title row: the title, then its readouts, wrapping in a narrow window */
  header {
    display: flex;
    justify-content: space-between;
    align-items: baseline;
    gap: 4px 12px;
    flex-wrap: wrap;
  }
  /* a readout tile: label (dt) over value (dd); a panel lays them out in its own .stats grid */
  .stat {
    background: var(--faint);
    border-radius: 8px;
    padding: 6px 10px;
    margin: 0;
  }
  .stat dt {
    font-size: 12px;
    color: var(--muted);
  }
  .stat dd {
    margin: 2px 0 0;
    font-size: 15px;
    font-weight: 600;
    white-space: nowrap;
  }
  h2 {
    font-size: 15px;
    font-weight: 600;
    margin: 0 0 12px;
  }
  h3 {
    font-size: 12px;
    font-weight: 600;
    text-transform: uppercase;
    letter-spacing: 0.04em;
    color: var(--muted);
    margin: 16px 0 6px;
  }
  .num {
    font-family: var(--mono);
    font-variant-numeric: tabular-nums;
  }
  .muted {
    color: var(--muted);
  }
  table {
    width: 100%;
    border-collapse: collapse;
  }
  th,
  td {
    text-align: left;
    padding: 4px 8px 4px 0;
    border-bottom: 1px solid var(--faint);
    white-space: nowrap;
  }
  th {
    font-weight: 500;
    color: var(--muted);
    font-size: 12px;
  }
  td.num,
  th.num {
    text-align: right;
  }
  td:not(:last-child).num,
  th:not(:last-child).num {
    padding-right: 16px;
  }
  td:last-child,
  th:last-child {
    padding-right: 0;
  }
  .scroll-x {
    overflow-x: auto;
  }
  button,
  input,
  select {
    font: inherit;
    color: inherit;
  }
  button {
    border: 1px solid var(--border);
    background: var(--panel);
    border-radius: 6px;
    padding: 5px 12px;
    cursor: pointer;
  }
  button.primary {
    background: var(--accent);
    border-color: var(--accent);
    color: var(--panel);
  }
  :focus-visible {
    outline: 2px solid var(--focus);
    outline-offset: 2px;
  }
`;

/** One colour per ledger category, in the ledger's stacking order; unknown categories get grey. */
export const CATEGORY_COLORS: Record<string, string> = {
  weights: '#4f46e5',
  grads: '#0ea5e9',
  optimizer: '#8b5cf6',
  activations: '#f59e0b',
  workspace: '#10b981',
  data: '#64748b',
  validation: '#ef4444',
  staging: '#ec4899',
};
export const categoryColor = (c: string): string => CATEGORY_COLORS[c] ?? '#94a3b8';
