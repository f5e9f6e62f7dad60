// The resampler against analytic signals: a sine resampled must equal the same sine sampled at the
// new rate (passband), a tone above the new Nyquist frequency must vanish instead of folding back
// (anti-aliasing), and a sweep through both shows where the band edge lies.
// Interior samples only: the signal is zero outside the input, so the kernel's reach at each end
// (64 zero crossings) sees the edge.
import { describe, expect, it } from 'vitest';
import { besselI0, downmixToMono, polyphaseKernel, resample, resampledLength } from '../../src/data/resample.ts';

function sine(freq: number, rate: number, n: number, phase = 0.3): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = Math.sin((2 * Math.PI * freq * i) / rate + phase);
  return x;
}

/** max |y - expected| and rms(y) over output samples j in [edge, len - edge). */
function compare(y: Float32Array, expected: (j: number) => number, edge: number) {
  let maxErr = 0, sq = 0, n = 0;
  for (let j = edge; j < y.length - edge; j++) {
    maxErr = Math.max(maxErr, Math.abs(y[j]! - expected(j)));
    sq += y[j]! * y[j]!;
    n++;
  }
  return { maxErr, rms: Math.sqrt(sq / n) };
}

describe('resample', () => {
  it('computes I0 as numpy.i0 does', () => {
    expect(besselI0(0)).toBe(1);
    expect(besselI0(1)).toBeCloseTo(1.2660658777520082, 14);
    expect(Math.abs(besselI0(8.6) / 750.4611595631661 - 1)).toBeLessThan(1e-14); // numpy.i0(8.6)
  });

  it('keeps passband tones exactly (48 kHz, 44.1 kHz, 22.05 kHz and 8 kHz to 16 kHz)', () => {
    for (const inRate of [48000, 44100, 22050, 8000]) {
      for (const f of [440, 1000, 3000, 6500]) {
        if (f > inRate * 0.45) continue;
        const x = sine(f, inRate, Math.round(inRate * 0.25));
        const y = resample(x, inRate, 16000);
        expect(y.length).toBe(resampledLength(x.length, inRate, 16000));
        const { maxErr } = compare(y, (j) => Math.sin((2 * Math.PI * f * j) / 16000 + 0.3), 400);
        expect(maxErr, `${inRate} Hz, ${f} Hz tone`).toBeLessThan(2e-4);
      }
    }
  });

  it('removes tones above the output Nyquist frequency instead of aliasing them', () => {
    for (const inRate of [48000, 44100]) {
      for (const f of [8200, 9000, 12000, 15000, 20000]) {
        const y = resample(sine(f, inRate, inRate / 4 | 0), inRate, 16000);
        const { rms } = compare(y, () => 0, 400);
        // a full-scale sine has rms 0.707: -70 dB is 2.2e-4
        expect(rms, `${inRate} Hz, ${f} Hz tone`).toBeLessThan(2.2e-4);
      }
    }
  });

  it('follows a 0-24 kHz sweep up to the band edge and stops it beyond', () => {
    const inRate = 48000, dur = 2, n = inRate * dur, f1 = 24000;
    // linear chirp: instantaneous frequency f(t) = f1 * t / dur
    const phase = (t: number) => Math.PI * (f1 / dur) * t * t;
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = Math.sin(phase(i / inRate));
    const y = resample(x, inRate, 16000);
    let passErr = 0, stopMax = 0;
    for (let j = 400; j < y.length - 400; j++) {
      const t = j / 16000, f = (f1 * t) / dur;
      if (f < 7000) passErr = Math.max(passErr, Math.abs(y[j]! - Math.sin(phase(t))));
      if (f > 8400) stopMax = Math.max(stopMax, Math.abs(y[j]!));
    }
    expect(passErr).toBeLessThan(1e-3);
    expect(stopMax).toBeLessThan(1e-3);
  });

  it('upsamples by band-limited interpolation', () => {
    const y = resample(sine(2500, 8000, 4000), 8000, 16000);
    expect(y.length).toBe(8000);
    const { maxErr } = compare(y, (j) => Math.sin((2 * Math.PI * 2500 * j) / 16000 + 0.3), 300);
    expect(maxErr).toBeLessThan(2e-4);
  });

  it('keeps time zero at time zero and a constant constant', () => {
    // an impulse in the middle of the input lands at the same time in the output
    const x = new Float32Array(4800);
    x[2400] = 1;
    const y = resample(x, 48000, 16000);
    let peak = 0;
    for (let j = 1; j < y.length; j++) if (y[j]! > y[peak]!) peak = j;
    expect(peak).toBe(800);
    const ones = resample(new Float32Array(4410).fill(1), 44100, 16000);
    for (let j = 300; j < ones.length - 300; j++) expect(Math.abs(ones[j]! - 1)).toBeLessThan(1e-6);
  });

  it('handles rates whose ratio needs more phases than the table holds', () => {
    const k = polyphaseKernel(44056, 16000);
    expect(k.up).toBe(2000);
    const k2 = polyphaseKernel(44101, 16000);
    expect(k2.phases).toBe(4096);
    const x = sine(1000, 44101, 11025);
    const { maxErr } = compare(resample(x, 44101, 16000), (j) => Math.sin((2 * Math.PI * 1000 * j) / 16000 + 0.3), 400);
    expect(maxErr).toBeLessThan(5e-4);
  });

  it('copies at equal rates and refuses nonsense rates', () => {
    const x = sine(100, 16000, 100);
    expect(resample(x, 16000, 16000)).toEqual(x);
    expect(() => resample(x, 0, 16000)).toThrow(/positive integers/);
    expect(() => resample(x, 44100.5, 16000)).toThrow(/positive integers/);
  });

  it('downmixes channels to their mean', () => {
    const m = downmixToMono([Float32Array.of(1, 0, -1), Float32Array.of(0, 1, -1)]);
    expect(Array.from(m)).toEqual([0.5, 0.5, -1]);
  });
});
