// Audio sample-rate conversion: a polyphase Kaiser-windowed-sinc resampler (band-limited
// interpolation), used to bring decoded audio to Whisper's 16 kHz as LatentSync's ffmpeg step does.
//
// Output sample j sits at input position p = j * inRate / outRate (no delay: time 0 maps to time
// 0). It is the sum of x[i] * h(p - i) over the inputs within the kernel's reach, with
//   h(t) = c sinc(c t) kaiser(t / reach),  c = cutoff * min(1, outRate / inRate)
// so the low-pass sits just below the Nyquist frequency of the lower of the two rates (that is
// what keeps a downsampled signal free of aliases). Samples outside the input count as zero.
//
// With L/M = outRate/inRate in lowest terms, p's fractional part takes L values: the kernel is
// tabulated once per phase. A rate pair whose L is above MAX_PHASES (odd rates such as 44056 Hz)
// uses MAX_PHASES phases and the nearest one: a timing error of at most 1/(2 MAX_PHASES) input
// samples, about -80 dB for a tone at the output's Nyquist frequency.
// No DOM: runs in the worker and in Node.

export interface ResampleOptions {
  /** Zero crossings of the kernel on each side, counted at the lower rate. More: a sharper band edge. */
  zeroCrossings?: number;
  /** The -6 dB point as a fraction of the lower rate's Nyquist frequency. */
  cutoff?: number;
  /** Kaiser window beta: stopband attenuation (8.6 gives about -86 dB). */
  beta?: number;
}

// 64 zero crossings, cutoff 0.95, beta 8.6: passband flat to about 0.9 of the output Nyquist
// (7.2 kHz at 16 kHz, within 1e-4), stopband from about 0.99 of it (below -80 dB).
export const DEFAULT_RESAMPLE: Required<ResampleOptions> = { zeroCrossings: 64, cutoff: 0.95, beta: 8.6 };
export const MAX_PHASES = 4096;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Modified Bessel function of the first kind, order 0 (power series; converges for any x). */
export function besselI0(x: number): number {
  let sum = 1, term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

export interface PolyphaseKernel {
  /** L and M of outRate/inRate = L/M in lowest terms. */
  up: number;
  down: number;
  /** Phases in the table (L, or MAX_PHASES when L is larger). */
  phases: number;
  /** Taps per phase (2 * reach + 1). */
  taps: number;
  /** Inputs on each side of the output position that the kernel reaches. */
  reach: number;
  /** [phases][taps]: tap k of phase q weighs input n0 - reach + k for the position n0 + q / phases. */
  table: Float32Array;
}

export function polyphaseKernel(inRate: number, outRate: number, options: ResampleOptions = {}): PolyphaseKernel {
  const { zeroCrossings, cutoff, beta } = { ...DEFAULT_RESAMPLE, ...options };
  if (!(Number.isInteger(inRate) && Number.isInteger(outRate) && inRate > 0 && outRate > 0)) {
    throw new RangeError(`resample: sample rates must be positive integers, got ${inRate} -> ${outRate}`);
  }
  const g = gcd(inRate, outRate);
  const up = outRate / g, down = inRate / g;
  const c = cutoff * Math.min(1, outRate / inRate); // in cycles per input sample, times 2
  const halfWidth = zeroCrossings / c; // in input samples
  const reach = Math.ceil(halfWidth);
  const taps = 2 * reach + 1;
  const phases = Math.min(up, MAX_PHASES);
  const table = new Float32Array(phases * taps);
  const i0Beta = besselI0(beta);
  const row = new Float64Array(taps);
  for (let q = 0; q < phases; q++) {
    const frac = q / phases;
    let sum = 0;
    for (let k = 0; k < taps; k++) {
      const t = frac + reach - k; // p - i with p = n0 + frac and i = n0 - reach + k
      let v = 0;
      if (Math.abs(t) < halfWidth) {
        const x = c * t;
        const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
        const r = t / halfWidth;
        v = c * sinc * (besselI0(beta * Math.sqrt(1 - r * r)) / i0Beta);
      }
      row[k] = v;
      sum += v;
    }
    // unit gain at DC for every phase: a constant signal stays exactly constant
    for (let k = 0; k < taps; k++) table[q * taps + k] = row[k]! / sum;
  }
  return { up, down, phases, taps, reach, table };
}

/** How many output samples `inputLength` inputs give: those whose position lies inside the input. */
export function resampledLength(inputLength: number, inRate: number, outRate: number): number {
  return Math.ceil((inputLength * outRate) / inRate);
}

const kernels = new Map<string, PolyphaseKernel>();

/** Resamples one channel from inRate to outRate. */
export function resample(input: Float32Array, inRate: number, outRate: number, options: ResampleOptions = {}): Float32Array {
  if (inRate === outRate) return input.slice();
  const key = `${inRate}:${outRate}:${options.zeroCrossings}:${options.cutoff}:${options.beta}`;
  let kernel = kernels.get(key);
  if (!kernel) kernels.set(key, (kernel = polyphaseKernel(inRate, outRate, options)));
  const { up, down, phases, taps, reach, table } = kernel;
  const n = input.length;
  const out = new Float32Array(resampledLength(n, inRate, outRate));
  for (let j = 0; j < out.length; j++) {
    // p = j * down / up = n0 + rem / up, in exact integer arithmetic
    const num = j * down;
    let n0 = Math.floor(num / up);
    const rem = num - n0 * up;
    let q = phases === up ? rem : Math.round((rem * phases) / up);
    if (q === phases) { q = 0; n0++; }
    const first = n0 - reach;
    const k0 = Math.max(0, -first), k1 = Math.min(taps, n - first);
    const base = q * taps;
    let acc = 0;
    for (let k = k0; k < k1; k++) acc += input[first + k]! * table[base + k]!;
    out[j] = acc;
  }
  return out;
}

/** The mean of the channels (planar), as ffmpeg's -ac 1 does for stereo. */
export function downmixToMono(channels: readonly Float32Array[]): Float32Array {
  if (channels.length === 0) throw new RangeError('downmixToMono: no channels');
  if (channels.length === 1) return channels[0]!.slice();
  const n = channels[0]!.length;
  const out = new Float32Array(n);
  const w = 1 / channels.length;
  for (const ch of channels) {
    if (ch.length !== n) throw new RangeError('downmixToMono: channels differ in length');
    for (let i = 0; i < n; i++) out[i] += ch[i]! * w;
  }
  return out;
}
