// A Whisper encoder exported to ONNX, run with onnxruntime-web (WebGPU where it works, else wasm):
// 16 kHz audio -> hidden states [steps, layers, dim] at 50 steps a second, which
// audio-tokens.ts arranges per video frame.
//
// What an export looks like (optimum / transformers.js / a torch.onnx.export of WhisperEncoder):
// input `input_features` [batch, n_mels, 3000], output `last_hidden_state` [batch, 1500, dim],
// and with output_hidden_states also `hidden_states.0` .. `hidden_states.N` (embeddings, then each
// block: 5 for tiny). LatentSync stacks every layer's states (50 x 384 tokens for tiny); an export
// with only last_hidden_state gives one layer (10 x dim tokens).
//
// Audio runs in 30 s windows as Whisper's transcribe does: the log-mel of the whole clip padded
// with zeros to whole windows (Whisper's normalization over all of it), 3000 mel frames a window,
// of whose 1500 steps those that cover audio are kept.
// The `ort` module is passed in, so the worker decides how onnxruntime-web finds its wasm files.
import type * as Ort from 'onnxruntime-web';
import type { EncoderStates } from './audio-tokens.ts';
import { SAMPLES_PER_STEP } from './audio-tokens.ts';
import { logMelSpectrogram, WHISPER_SAMPLE_RATE } from './logmel.ts';

export const WINDOW_SAMPLES = 30 * WHISPER_SAMPLE_RATE;
export const WINDOW_MEL_FRAMES = 3000;

export type OrtModule = typeof Ort;

export interface WhisperEncoderInfo {
  name: string;
  inputName: string;
  /** The outputs stacked as layers, in order. */
  layerOutputs: string[];
  nMels: number;
  layers: number;
  dim: number;
  /** Encoder steps per 30 s window (1500 for Whisper). */
  stepsPerWindow: number;
  provider: 'webgpu' | 'wasm';
}

export interface WhisperEncoder extends WhisperEncoderInfo {
  /** Hidden states of a clip's 16 kHz mono audio: ceil(samples / 320) steps. */
  encode(samples: Float32Array): Promise<EncoderStates>;
  release(): Promise<void>;
}

export class EncoderModelError extends Error {
  override readonly name = 'EncoderModelError';
  constructor(message: string, readonly action: string) {
    super(message);
  }
}

export interface LoadOptions {
  name?: string;
  /** Which outputs make the layers: every hidden state (LatentSync) or the last one only. */
  layers?: 'all' | 'last';
  /** Execution providers to try, in order (default: webgpu where navigator.gpu exists, then wasm). */
  providers?: ('webgpu' | 'wasm')[];
}

/** The hidden-state outputs in layer order: hidden_states.0, .1, ... (by their number). */
export function layerOutputNames(outputNames: readonly string[], mode: 'all' | 'last' = 'all'): string[] {
  const numbered = outputNames
    .map((n) => ({ n, m: /hidden_states[._/]?(\d+)$/i.exec(n) }))
    .filter((x) => x.m)
    .sort((a, b) => Number(a.m![1]) - Number(b.m![1]))
    .map((x) => x.n);
  const last = outputNames.find((n) => n === 'last_hidden_state') ?? outputNames[0];
  if (mode === 'all' && numbered.length) return numbered;
  if (!last) throw new EncoderModelError('The ONNX model has no outputs.', 'Export the Whisper encoder with its last_hidden_state output.');
  return [last];
}

function dimsOf(meta: Ort.InferenceSession.ValueMetadata | undefined): readonly (number | string)[] | null {
  return meta && meta.isTensor ? meta.shape : null;
}

export async function loadWhisperEncoder(ort: OrtModule, model: Uint8Array | ArrayBuffer, opts: LoadOptions = {}): Promise<WhisperEncoder> {
  const bytes = model instanceof Uint8Array ? model : new Uint8Array(model);
  const hasGpu = typeof navigator !== 'undefined' && 'gpu' in navigator && !!(navigator as Navigator & { gpu?: unknown }).gpu;
  const providers = opts.providers ?? (hasGpu ? ['webgpu', 'wasm'] : ['wasm']);
  let session: Ort.InferenceSession | null = null;
  let provider: 'webgpu' | 'wasm' = 'wasm';
  const errors: string[] = [];
  for (const p of providers) {
    try {
      session = await ort.InferenceSession.create(bytes, { executionProviders: [p], graphOptimizationLevel: 'all' });
      provider = p;
      break;
    } catch (e) {
      errors.push(`${p}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (!session) {
    throw new EncoderModelError(`onnxruntime-web could not load the encoder (${errors.join('; ')}).`, 'Check that the file is an ONNX export of a Whisper encoder (e.g. encoder_model.onnx).');
  }

  const inputName = session.inputNames.includes('input_features') ? 'input_features' : session.inputNames[0]!;
  if (session.inputNames.length !== 1) {
    await session.release();
    throw new EncoderModelError(`The model takes ${session.inputNames.length} inputs (${session.inputNames.join(', ')}); a Whisper encoder takes one, input_features.`, 'Export the encoder alone (encoder_model.onnx), not the decoder or a merged model.');
  }
  const inDims = dimsOf(session.inputMetadata?.[session.inputNames.indexOf(inputName)]);
  const nMels = typeof inDims?.[1] === 'number' ? inDims[1] : 80;
  if (nMels !== 80 && nMels !== 128) {
    await session.release();
    throw new EncoderModelError(`The model's input has ${nMels} mel bins; Whisper encoders take 80 (or 128 for large-v3).`, 'Use an ONNX export of a Whisper encoder.');
  }
  const layerOutputs = layerOutputNames(session.outputNames, opts.layers);

  // one silent window tells the output shapes (and warms the session up)
  let probe;
  try {
    probe = await runWindow(ort, session, inputName, layerOutputs, new Float32Array(nMels * WINDOW_MEL_FRAMES), nMels);
  } catch (e) {
    await session.release();
    if (e instanceof EncoderModelError) throw e;
    throw new EncoderModelError(`The encoder failed on a 30 s window [1, ${nMels}, 3000]: ${e instanceof Error ? e.message : String(e)}`, 'Use an ONNX export of a Whisper encoder (input input_features [1, 80, 3000]).');
  }
  const { steps: stepsPerWindow, dim } = probe;
  if (stepsPerWindow * SAMPLES_PER_STEP !== WINDOW_SAMPLES) {
    // not a Whisper-shaped encoder: its steps would not be 50 a second
    await session.release();
    throw new EncoderModelError(`The encoder gives ${stepsPerWindow} steps per 30 s window; Whisper gives 1500.`, 'Use an ONNX export of a Whisper encoder.');
  }

  const info: WhisperEncoderInfo = { name: opts.name ?? 'whisper-encoder.onnx', inputName, layerOutputs, nMels, layers: layerOutputs.length, dim, stepsPerWindow, provider };
  return {
    ...info,
    async encode(samples: Float32Array): Promise<EncoderStates> {
      return encodeAudio(ort, session!, info, samples);
    },
    async release() {
      await session!.release();
    },
  };
}

async function runWindow(ort: OrtModule, session: Ort.InferenceSession, inputName: string, outputs: string[], mel: Float32Array, nMels: number) {
  const feeds = { [inputName]: new ort.Tensor('float32', mel, [1, nMels, WINDOW_MEL_FRAMES]) };
  const result = await session.run(feeds, outputs);
  const tensors = outputs.map((o) => result[o]!);
  const dims = tensors[0]!.dims;
  if (dims.length !== 3 || dims[0] !== 1) {
    throw new EncoderModelError(`Output ${outputs[0]} has shape [${dims.join(', ')}]; a Whisper encoder gives [1, steps, dim].`, 'Use an ONNX export of a Whisper encoder.');
  }
  for (const [i, t] of tensors.entries()) {
    if (t.dims.join() !== dims.join()) {
      throw new EncoderModelError(`Output ${outputs[i]} has shape [${t.dims.join(', ')}], unlike ${outputs[0]} [${dims.join(', ')}].`, 'Pass layers: "last" to use last_hidden_state alone.');
    }
  }
  const data = tensors.map((t) => (t.type === 'float32' ? (t.data as Float32Array) : Float32Array.from(t.data as ArrayLike<number>)));
  return { steps: dims[1]!, dim: dims[2]!, data };
}

async function encodeAudio(ort: OrtModule, session: Ort.InferenceSession, info: WhisperEncoderInfo, samples: Float32Array): Promise<EncoderStates> {
  const { nMels, layers, dim, stepsPerWindow } = info;
  const windows = Math.max(1, Math.ceil(samples.length / WINDOW_SAMPLES));
  const steps = Math.ceil(samples.length / SAMPLES_PER_STEP);
  const mel = logMelSpectrogram(samples, nMels, windows * WINDOW_SAMPLES - samples.length);
  const out = new Float32Array(steps * layers * dim);
  const window = new Float32Array(nMels * WINDOW_MEL_FRAMES);
  for (let w = 0; w < windows; w++) {
    for (let m = 0; m < nMels; m++) {
      const from = m * mel.nFrames + w * WINDOW_MEL_FRAMES;
      window.set(mel.data.subarray(from, from + WINDOW_MEL_FRAMES), m * WINDOW_MEL_FRAMES);
    }
    const r = await runWindow(ort, session, info.inputName, info.layerOutputs, window, nMels);
    const first = (w * WINDOW_SAMPLES) / SAMPLES_PER_STEP; // 1500 steps a window
    const keep = Math.min(r.steps, steps - first);
    for (let s = 0; s < keep; s++) {
      for (let l = 0; l < layers; l++) {
        out.set(r.data[l]!.subarray(s * dim, (s + 1) * dim), ((first + s) * layers + l) * dim);
      }
    }
  }
  return { data: out, steps, layers, dim };
}
