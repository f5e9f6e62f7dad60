/**
 * Seeded numbers for parameter init. Each parameter draws from its own stream, keyed by the run's seed and
 * its dotted name, so a parameter's initial values do not depend on which other modules exist or in which
 * order they are materialized: a model rebuilt with the same seed starts from the same weights.
 */
export function paramStream(seed: number, name: string): () => number {
  let state = mix(hashName(name) ^ mix(seed >>> 0));
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    return mix(state) / 4294967296;
  };
}

/** Fills `out` with uniform values in [-bound, bound). */
export function fillUniform(out: Float32Array, bound: number, next: () => number): Float32Array {
  for (let i = 0; i < out.length; i++) out[i] = (2 * next() - 1) * bound;
  return out;
}

/** splitmix32's finalizer: a bijective scramble of 32 bits. */
function mix(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a over the name's UTF-16 code units. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
