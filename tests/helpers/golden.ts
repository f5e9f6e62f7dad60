import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { readSafetensors } from '../../src/io/safetensors.ts';
import { toStorage } from '../../src/io/dtype.ts';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

export interface Golden {
  /** Every tensor of the file as f32, by name ("in.x", "out.y", "grad.x", ...). */
  t(name: string): Float32Array;
  shape(name: string): number[];
  has(name: string): boolean;
  /** Case parameters, JSON-decoded from the file's metadata. */
  meta: Record<string, unknown>;
  names: string[];
}

/** Loads a golden written by tools/reference/ (see st.py). A missing fixture fails the test that needs it. */
export function loadGolden(relPath: string): Golden {
  const path = join(FIXTURES, relPath);
  if (!existsSync(path)) throw new Error(`missing fixture ${relPath}: regenerate with the script in tools/reference/ (see README)`);
  const { metadata, tensors } = readSafetensors(readFileSync(path));
  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(metadata)) {
    try {
      meta[k] = JSON.parse(v);
    } catch {
      meta[k] = v;
    }
  }
  const get = (name: string) => {
    const t = tensors.get(name);
    if (!t) throw new Error(`${relPath} has no tensor "${name}" (has: ${[...tensors.keys()].join(', ')})`);
    return t;
  };
  return {
    t: (name) => toStorage(get(name), 'f32', name),
    shape: (name) => get(name).shape,
    has: (name) => tensors.has(name),
    meta,
    names: [...tensors.keys()],
  };
}

/**
 * max |a - b| / max(|b|_inf, floor): a relative error against the reference's scale, so values near zero do
 * not blow it up. Returns the error; expectClose asserts on it.
 */
export function maxRelError(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 1e-6): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let maxDiff = 0;
  let scale = floor;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= maxDiff)) maxDiff = Number.isNaN(d) ? Infinity : d;
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return maxDiff / scale;
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = 'tensor'): void {
  const err = maxRelError(actual, expected);
  expect(err, `${what}: max relative error ${err.toExponential(2)} > ${tol}`).toBeLessThanOrEqual(tol);
}
