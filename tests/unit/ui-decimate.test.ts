import { describe, expect, it } from 'vitest';
import { Decimator } from '../../src/ui/decimate.ts';

describe('Decimator (the loss chart over long runs)', () => {
  it('keeps every point while there are few', () => {
    const d = new Decimator(10);
    for (let i = 1; i <= 15; i++) d.push(i, 1 / i);
    expect(d.series().x).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(d.size).toBe(1);
  });

  it('stays bounded over a long run, in x order, and keeps the spikes', () => {
    const d = new Decimator(300);
    const n = 200_000;
    for (let i = 1; i <= n; i++) d.push(i, i === 123_457 ? 50 : i === 98_765 ? -3 : Math.sin(i / 1000));
    const s = d.series();
    expect(d.count).toBe(n);
    expect(s.x.length).toBeLessThanOrEqual(4 * 300);
    expect(s.x.length).toBeGreaterThan(300);
    expect(s.x.every((x, i) => i === 0 || x > s.x[i - 1])).toBe(true);
    expect(s.y).toContain(50);
    expect(s.y).toContain(-3);
    expect(s.x[s.y.indexOf(50)]).toBe(123_457);
  });

  it('carries the smoothed value with each kept point', () => {
    const d = new Decimator(2);
    for (let i = 1; i <= 64; i++) d.push(i, i % 2 ? 1 : 0, i * 10);
    const s = d.series();
    s.x.forEach((x, i) => expect(s.z[i]).toBe(x * 10));
  });
});
