// WAV (RIFF WAVE) audio for the lip-sync CLI: 8/16/24/32-bit integer PCM or 32/64-bit float, any rate and
// channel count (plain or WAVE_FORMAT_EXTENSIBLE), to 16 kHz mono floats as the dataset hears audio:
// channels averaged (src/data/resample.ts downmixToMono), then resampled (resample).
// Pure byte handling. No DOM.
import { AUDIO_RATE } from '../data/decode-audio.ts';
import { downmixToMono, resample } from '../data/resample.ts';

export interface WavAudio {
  sampleRate: number;
  /** One Float32Array per channel, in [-1, 1]. */
  channels: Float32Array[];
}

function bad(what: string): never {
  throw new Error(`wav: ${what}. Convert the audio with: ffmpeg -i IN -ac 1 -ar 16000 -c:a pcm_s16le OUT.wav`);
}

const PCM = 1, FLOAT = 3, EXTENSIBLE = 0xfffe;

export function parseWav(bytes: Uint8Array): WavAudio {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (o: number) => String.fromCharCode(...bytes.subarray(o, o + 4));
  if (bytes.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') bad('not a RIFF WAVE file');
  let fmt: { format: number; channels: number; rate: number; bits: number } | null = null;
  let data: Uint8Array | null = null;
  for (let o = 12; o + 8 <= bytes.length; ) {
    const id = tag(o);
    // ffmpeg writes 0xFFFFFFFF as the data size when it streams to a pipe: the chunk runs to the end
    const declared = view.getUint32(o + 4, true);
    const size = Math.min(declared, bytes.length - o - 8);
    if (id === 'fmt ') {
      let format = view.getUint16(o + 8, true);
      if (format === EXTENSIBLE && size >= 26) format = view.getUint16(o + 8 + 24, true);
      fmt = { format, channels: view.getUint16(o + 10, true), rate: view.getUint32(o + 12, true), bits: view.getUint16(o + 22, true) };
    } else if (id === 'data') {
      data = bytes.subarray(o + 8, o + 8 + size);
    }
    o += 8 + size + (size & 1);
  }
  if (!fmt) bad('no "fmt " chunk');
  if (!data) bad('no "data" chunk');
  const { format, channels: nch, rate, bits } = fmt;
  if (nch < 1 || !(rate > 0)) bad(`${nch} channels at ${rate} Hz`);
  const width = bits / 8;
  const intFormats = [8, 16, 24, 32];
  if (!((format === PCM && intFormats.includes(bits)) || (format === FLOAT && (bits === 32 || bits === 64)))) {
    bad(`sample format ${format === FLOAT ? 'float' : format === PCM ? 'PCM' : `#${format}`} ${bits}-bit is not supported (PCM 8/16/24/32-bit or float 32/64-bit are)`);
  }
  const frames = Math.floor(data.length / (width * nch));
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const channels = Array.from({ length: nch }, () => new Float32Array(frames));
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < nch; c++) {
      const o = (i * nch + c) * width;
      let v: number;
      if (format === FLOAT) v = bits === 32 ? dv.getFloat32(o, true) : dv.getFloat64(o, true);
      else if (bits === 8) v = (dv.getUint8(o) - 128) / 128;
      else if (bits === 16) v = dv.getInt16(o, true) / 32768;
      else if (bits === 24) v = ((dv.getUint8(o) | (dv.getUint8(o + 1) << 8) | (dv.getInt8(o + 2) << 16)) / 8388608);
      else v = dv.getInt32(o, true) / 2147483648;
      channels[c]![i] = v;
    }
  }
  return { sampleRate: rate, channels };
}

/** The file's audio as 16 kHz mono, as the dataset keeps it. */
export function wavTo16kMono(bytes: Uint8Array): Float32Array {
  const wav = parseWav(bytes);
  return resample(downmixToMono(wav.channels), wav.sampleRate, AUDIO_RATE);
}
