// A tiny stand-in for a Whisper encoder exported to ONNX, built with onnx-proto: the same input and
// outputs as an optimum/transformers.js export (input_features [1, n_mels, 3000] ->
// last_hidden_state [1, 1500, dim], optionally hidden_states.0 .. hidden_states.{layers-1}), with
// arithmetic simple enough to recompute in the test:
//   h0 = reshape(transpose(x), [1, 1500, 2 * n_mels]) @ W       (pairs of mel frames, stride 2)
//   h_i = h_{i-1} + b_i,  b_i[j] = i + j / dim
// Shared by the Node and the browser tests.
import pkg from 'onnx-proto';

const { onnx } = pkg;

export interface TinyEncoderSpec {
  nMels?: number;
  dim?: number;
  layers?: number;
  /** Also output hidden_states.0 .. (as an export with output_hidden_states does). */
  hiddenStates?: boolean;
}

export function weight(k: number, j: number): number {
  return Math.fround(Math.sin(k * 0.37 + j * 0.11) * 0.05);
}

export function bias(i: number, j: number, dim: number): number {
  return Math.fround(i + j / dim);
}

export function buildTinyEncoder(spec: TinyEncoderSpec = {}): Uint8Array {
  const nMels = spec.nMels ?? 80, dim = spec.dim ?? 8, layers = spec.layers ?? 5;
  const F = onnx.TensorProto.DataType.FLOAT;
  const tensor = (name: string, dims: number[], values: number[] | Float32Array) => ({ name, dataType: F, dims, floatData: Array.from(values) });
  const w = new Float32Array(2 * nMels * dim);
  for (let k = 0; k < 2 * nMels; k++) for (let j = 0; j < dim; j++) w[k * dim + j] = weight(k, j);
  const initializer = [
    tensor('W', [2 * nMels, dim], w),
    { name: 'shape', dataType: onnx.TensorProto.DataType.INT64, dims: [3], int64Data: [1, 1500, 2 * nMels] },
  ];
  const node: object[] = [
    { opType: 'Transpose', input: ['input_features'], output: ['t'], attribute: [{ name: 'perm', type: onnx.AttributeProto.AttributeType.INTS, ints: [0, 2, 1] }] },
    { opType: 'Reshape', input: ['t', 'shape'], output: ['r'] },
    { opType: 'MatMul', input: ['r', 'W'], output: ['h0'] },
  ];
  for (let i = 1; i < layers; i++) {
    initializer.push(tensor(`b${i}`, [dim], Array.from({ length: dim }, (_, j) => bias(i, j, dim))));
    node.push({ opType: 'Add', input: [`h${i - 1}`, `b${i}`], output: [`h${i}`] });
  }
  const valueInfo = (name: string, dims: (number | string)[]) => ({
    name,
    type: { tensorType: { elemType: F, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
  const output = [valueInfo('last_hidden_state', ['batch_size', 1500, dim])];
  node.push({ opType: 'Identity', input: [`h${layers - 1}`], output: ['last_hidden_state'] });
  if (spec.hiddenStates) {
    for (let i = 0; i < layers; i++) {
      node.push({ opType: 'Identity', input: [`h${i}`], output: [`hidden_states.${i}`] });
      output.push(valueInfo(`hidden_states.${i}`, ['batch_size', 1500, dim]));
    }
  }
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'latent-lab tests',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'tiny_whisper_encoder',
      node,
      initializer,
      input: [valueInfo('input_features', ['batch_size', nMels, 3000])],
      output,
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** What the tiny encoder computes for one 30 s window of log-mel [nMels, 3000]: layers x [1500, dim]. */
export function tinyEncoderReference(mel: Float32Array, spec: TinyEncoderSpec = {}): Float32Array[] {
  const nMels = spec.nMels ?? 80, dim = spec.dim ?? 8, layers = spec.layers ?? 5;
  const h0 = new Float32Array(1500 * dim);
  for (let s = 0; s < 1500; s++) {
    for (let j = 0; j < dim; j++) {
      let acc = 0;
      // row s of reshape(transpose(x)) is frames 2s and 2s + 1, all mels each
      for (let f = 0; f < 2; f++) for (let m = 0; m < nMels; m++) acc += mel[m * 3000 + 2 * s + f]! * weight(f * nMels + m, j);
      h0[s * dim + j] = acc;
    }
  }
  const out = [h0];
  for (let i = 1; i < layers; i++) out.push(out[i - 1]!.map((v, p) => v + bias(i, p % dim, dim)));
  return out;
}
