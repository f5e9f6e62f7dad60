// Whisper's log-mel features (whisper/audio.py log_mel_spectrogram), the audio input of
// LatentSync's audio encoder: 16 kHz mono -> [nMels, floor(samples / 160)].
// Steps: periodic Hann window, 400-point STFT every 160 samples with the signal reflect-padded
// by 200 on both sides (torch.stft center=True), power, the last frame dropped, Slaney mel
// filterbank (librosa.filters.mel), log10 with a 1e-10 floor, values more than 8 below the
// maximum raised to it, then (x + 4) / 4.
// Computed in float64 (torch runs float32): tests/unit/logmel.test.ts bounds the difference.
// No DOM: runs in the worker and in Node.

export const WHISPER_SAMPLE_RATE = 16000;
export const N_FFT = 400;
export const HOP_LENGTH = 160;
const N_BINS = N_FFT / 2 + 1;

export interface LogMel {
  /** row-major [nMels, nFrames] */
  data: Float32Array;
  nMels: number;
  nFrames: number;
}

// Slaney mel scale (librosa's default, htk=false): linear below 1 kHz, logarithmic above.
const F_SP = 200 / 3;
const MIN_LOG_HZ = 1000;
const MIN_LOG_MEL = MIN_LOG_HZ / F_SP;
const LOGSTEP = Math.log(6.4) / 27;

export function hzToMel(hz: number): number {
  return hz >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(hz / MIN_LOG_HZ) / LOGSTEP : hz / F_SP;
}

export function melToHz(mel: number): number {
  return mel >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp(LOGSTEP * (mel - MIN_LOG_MEL)) : F_SP * mel;
}

/**
 * librosa.filters.mel(sr, nFft, nMels) with its defaults (fmin 0, fmax sr/2, Slaney scale and
 * area normalization, float32): row-major [nMels, nFft/2 + 1]. Rounded to float32 where librosa
 * rounds (triangle first, then the normalization), so the values match it bit for bit.
 */
export function melFilterbank(sampleRate = WHISPER_SAMPLE_RATE, nFft = N_FFT, nMels = 80): Float32Array {
  const nBins = Math.floor(nFft / 2) + 1;
  // band edges: np.linspace(0, maxMel, nMels + 2) (i * step, last one exact) mapped to Hz
  const maxMel = hzToMel(sampleRate / 2);
  const step = maxMel / (nMels + 1);
  const edges = new Float64Array(nMels + 2);
  for (let i = 0; i < nMels + 2; i++) edges[i] = melToHz(i === nMels + 1 ? maxMel : i * step);
  const out = new Float32Array(nMels * nBins);
  for (let m = 0; m < nMels; m++) {
    const lo = edges[m]!, mid = edges[m + 1]!, hi = edges[m + 2]!;
    const norm = 2 / (hi - lo);
    for (let k = 0; k < nBins; k++) {
      const f = ((sampleRate / 2) * k) / (nBins - 1); // np.linspace(0, sr/2, nBins)
      const rising = (f - lo) / (mid - lo);
      const falling = (hi - f) / (hi - mid);
      const tri = Math.fround(Math.max(0, Math.min(rising, falling)));
      out[m * nBins + k] = tri * norm;
    }
  }
  return out;
}

// Real DFT of a 400-sample frame by direct sums. A 400-point FFT would need mixed radix or
// Bluestein (fft.js is power-of-two only); the direct sum is short, exact to float64 and fast
// enough (~0.25 s for 30 s of audio) once symmetry cuts it to a quarter:
// - n and N - n pair up (cosine even, sine odd), so sums run over n = 1..199;
// - bin N/2 - k reuses bin k's table: its terms flip sign at odd n, so each sum is split by
//   the parity of n and bins k and 200 - k come out of the same pass.
const HALF = N_FFT / 2;
const QUARTER = N_FFT / 4;
let dftTables: { cos: Float64Array; sin: Float64Array } | null = null;
function tables() {
  if (dftTables) return dftTables;
  const cos = new Float64Array((QUARTER + 1) * HALF); // [k = 0..100][n = 0..199], n = 0 unused
  const sin = new Float64Array((QUARTER + 1) * HALF);
  for (let k = 0; k <= QUARTER; k++) {
    for (let n = 1; n < HALF; n++) {
      const angle = (2 * Math.PI * ((k * n) % N_FFT)) / N_FFT; // reduce first: exact angles
      cos[k * HALF + n] = Math.cos(angle);
      sin[k * HALF + n] = Math.sin(angle);
    }
  }
  return (dftTables = { cos, sin });
}

/** Power spectrum |X_k|^2, k = 0..200, of one windowed 400-sample frame. */
function powerSpectrum(frame: Float64Array, even: Float64Array, odd: Float64Array, power: Float64Array): void {
  const { cos, sin } = tables();
  for (let n = 1; n < HALF; n++) {
    even[n] = frame[n]! + frame[N_FFT - n]!;
    odd[n] = frame[n]! - frame[N_FFT - n]!;
  }
  const x0 = frame[0]!, xh = frame[HALF]!;
  for (let k = 0; k <= QUARTER; k++) {
    const row = k * HALF;
    let reOdd = 0, reEven = 0, imOdd = 0, imEven = 0;
    for (let n = 1; n < HALF; n += 2) {
      reOdd += even[n]! * cos[row + n]!;
      imOdd += odd[n]! * sin[row + n]!;
    }
    for (let n = 2; n < HALF; n += 2) {
      reEven += even[n]! * cos[row + n]!;
      imEven += odd[n]! * sin[row + n]!;
    }
    const base = x0 + (k % 2 === 0 ? xh : -xh); // (-1)^k is also (-1)^(200 - k)
    const re = base + reEven + reOdd, im = imEven + imOdd; // sign of im is irrelevant for power
    power[k] = re * re + im * im;
    if (k === QUARTER) continue; // bin 100 is its own mirror
    const reMirror = base + reEven - reOdd, imMirror = imEven - imOdd;
    power[HALF - k] = reMirror * reMirror + imMirror * imMirror;
  }
}

const filterbanks = new Map<number, { weights: Float32Array; start: Int32Array; end: Int32Array }>();
function filterbank(nMels: number) {
  let fb = filterbanks.get(nMels);
  if (!fb) {
    const weights = melFilterbank(WHISPER_SAMPLE_RATE, N_FFT, nMels);
    // each triangle covers a few bins: keep its nonzero span
    const start = new Int32Array(nMels), end = new Int32Array(nMels);
    for (let m = 0; m < nMels; m++) {
      let s = 0, e = N_BINS;
      while (s < N_BINS && weights[m * N_BINS + s] === 0) s++;
      while (e > s && weights[m * N_BINS + e - 1] === 0) e--;
      start[m] = s;
      end[m] = e;
    }
    fb = { weights, start, end };
    filterbanks.set(nMels, fb);
  }
  return fb;
}

/**
 * Whisper's log_mel_spectrogram(audio, nMels, padding): audio is 16 kHz mono; padding appends
 * that many zero samples first (Whisper's transcribe pads 30 s). Needs more than 200 samples
 * after padding, as torch's reflect padding does.
 */
export function logMelSpectrogram(audio: Float32Array, nMels = 80, padding = 0): LogMel {
  const n = audio.length + padding;
  const pad = HALF;
  if (n <= pad) throw new RangeError(`logMelSpectrogram: need more than ${pad} samples, got ${n}`);
  const nFrames = Math.floor(n / HOP_LENGTH); // 1 + n / hop STFT frames, less the last one

  // reflect padding: x[-i] = x[i], x[n-1+i] = x[n-1-i]
  const padded = new Float64Array(n + 2 * pad);
  for (let i = 0; i < audio.length; i++) padded[pad + i] = audio[i]!;
  for (let i = 1; i <= pad; i++) {
    padded[pad - i] = padded[pad + i]!;
    padded[pad + n - 1 + i] = padded[pad + n - 1 - i]!;
  }

  const window = new Float64Array(N_FFT);
  for (let i = 0; i < N_FFT; i++) window[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / N_FFT); // periodic Hann

  const { weights, start, end } = filterbank(nMels);
  const frame = new Float64Array(N_FFT);
  const even = new Float64Array(HALF);
  const odd = new Float64Array(HALF);
  const power = new Float64Array(N_BINS);
  const logSpec = new Float64Array(nMels * nFrames);
  let maxLog = -Infinity;

  for (let t = 0; t < nFrames; t++) {
    const offset = t * HOP_LENGTH;
    for (let i = 0; i < N_FFT; i++) frame[i] = padded[offset + i]! * window[i]!;
    powerSpectrum(frame, even, odd, power);
    for (let m = 0; m < nMels; m++) {
      let acc = 0;
      for (let k = start[m]!; k < end[m]!; k++) acc += weights[m * N_BINS + k]! * power[k]!;
      const v = Math.log10(Math.max(acc, 1e-10));
      logSpec[m * nFrames + t] = v;
      if (v > maxLog) maxLog = v;
    }
  }

  const floor = maxLog - 8;
  const data = new Float32Array(nMels * nFrames);
  for (let i = 0; i < data.length; i++) data[i] = (Math.max(logSpec[i]!, floor) + 4) / 4;
  return { data, nMels, nFrames };
}
