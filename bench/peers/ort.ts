/**
 * ONNX Runtime Web's WebGPU execution provider (the JSEP build the app ships, through src/data/ort-web.ts).
 * Each row is a one-node ONNX graph built with onnx-proto: MatMul, Conv (weights and bias as initializers,
 * as an exported model has them) and com.microsoft MultiHeadAttention; group norm is the five nodes
 * torch.onnx.export writes (ORT's WebGPU EP has no GroupNormalization kernel). Inputs live in GPU buffers on ORT's device, outputs stay there
 * (preferredOutputLocation 'gpu-buffer'), and CPU fallback is disabled, so a row either runs on the GPU or
 * says why not. ORT does not train: forward rows only.
 */
import pkg from 'onnx-proto';
import { ort } from '../../src/data/ort-web.ts';
import type { Peer, Prepared } from './peer.ts';
import { rowInputs, rowOutput, type PeerRow, type RowSpec } from './rows.ts';

const { onnx } = pkg;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const A = onnx.AttributeProto.AttributeType;

interface Graph {
  model: Uint8Array;
  /** Which row inputs are graph inputs (the rest are initializers). */
  fed: number[];
  inputNames: string[];
}

function valueInfo(name: string, dims: number[]) {
  return { name, type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } };
}

function oneNode(spec: RowSpec, inputs: Float32Array[]): Graph {
  const shapes = rowInputs(spec);
  const init = (name: string, i: number) => ({ name, dataType: FLOAT, dims: shapes[i], rawData: new Uint8Array(inputs[i].buffer.slice(0)) });
  let node: object;
  let names: string[];
  let fed: number[];
  let opset = [{ domain: '', version: 21 }];
  switch (spec.kind) {
    case 'matmul':
      names = ['A', 'B'];
      fed = [0];
      node = { opType: 'MatMul', input: names, output: ['Y'] };
      break;
    case 'conv3x3':
      names = ['X', 'W', 'Bias'];
      fed = [0];
      node = {
        opType: 'Conv',
        input: names,
        output: ['Y'],
        attribute: [
          { name: 'kernel_shape', type: A.INTS, ints: [3, 3] },
          { name: 'pads', type: A.INTS, ints: [1, 1, 1, 1] },
          { name: 'strides', type: A.INTS, ints: [1, 1] },
        ],
      };
      break;
    case 'group_norm': {
      // ORT's WebGPU EP has no GroupNormalization kernel (the session refuses it without CPU fallback), so
      // the graph is what torch.onnx.export emits for nn.GroupNorm: Reshape, InstanceNormalization over the
      // groups, Reshape, then the per-channel affine as Mul and Add.
      const { n, c, h, w, groups, eps } = spec;
      const f32 = (name: string, dims: number[], v: Float32Array) => ({ name, dataType: FLOAT, dims, rawData: new Uint8Array(v.buffer.slice(0)) });
      const i64 = (name: string, v: number[]) => ({ name, dataType: onnx.TensorProto.DataType.INT64, dims: [v.length], int64Data: v });
      const model = onnx.ModelProto.create({
        irVersion: 10,
        producerName: 'latent-lab bench',
        opsetImport: opset,
        graph: {
          name: 'group_norm',
          node: [
            { opType: 'Reshape', input: ['X', 'grouped'], output: ['xg'] },
            { opType: 'InstanceNormalization', input: ['xg', 'ones', 'zeros'], output: ['ng'], attribute: [{ name: 'epsilon', type: A.FLOAT, f: eps }] },
            { opType: 'Reshape', input: ['ng', 'full'], output: ['nx'] },
            { opType: 'Mul', input: ['nx', 'scale'], output: ['sx'] },
            { opType: 'Add', input: ['sx', 'bias'], output: ['Y'] },
          ],
          initializer: [
            i64('grouped', [n, groups, -1]),
            i64('full', [n, c, h, w]),
            f32('ones', [groups], new Float32Array(groups).fill(1)),
            f32('zeros', [groups], new Float32Array(groups)),
            f32('scale', [c, 1, 1], inputs[1]),
            f32('bias', [c, 1, 1], inputs[2]),
          ],
          input: [valueInfo('X', shapes[0])],
          output: [valueInfo('Y', rowOutput(spec))],
        },
      });
      return { model: onnx.ModelProto.encode(model).finish(), fed: [0], inputNames: ['X'] };
    }
    case 'attention':
      names = ['query', 'key', 'value'];
      fed = [0, 1, 2];
      opset = [{ domain: '', version: 21 }, { domain: 'com.microsoft', version: 1 }];
      node = { opType: 'MultiHeadAttention', domain: 'com.microsoft', input: names, output: ['Y'], attribute: [{ name: 'num_heads', type: A.INT, i: spec.heads }] };
      break;
  }
  const model = onnx.ModelProto.create({
    irVersion: 10,
    producerName: 'latent-lab bench',
    opsetImport: opset,
    graph: {
      name: spec.kind,
      node: [node],
      initializer: names.map((n, i) => (fed.includes(i) ? null : init(n, i))).filter((x) => x !== null),
      input: fed.map((i) => valueInfo(names[i], shapes[i])),
      output: [valueInfo('Y', rowOutput(spec))],
    },
  });
  return { model: onnx.ModelProto.encode(model).finish(), fed, inputNames: names };
}

export class OrtPeer implements Peer {
  name = 'ORT web webgpu';
  version = ort.env.versions.web ?? '';
  trains = false;
  private device!: GPUDevice;

  async init(): Promise<void> {
    // The first session starts the WebGPU backend; its device is then ORT's own.
    const g = oneNode({ kind: 'matmul', M: 4, K: 4, N: 4 }, [new Float32Array(16), new Float32Array(16)]);
    const s = await ort.InferenceSession.create(g.model, { executionProviders: ['webgpu'] });
    await s.release();
    this.device = (await ort.env.webgpu.device) as GPUDevice;
  }

  async prepare(row: PeerRow, mode: 'fwd' | 'fwdbwd', inputs: Float32Array[]): Promise<Prepared | string> {
    if (mode !== 'fwd') return 'ONNX Runtime Web runs inference only';
    const g = oneNode(row.spec, inputs);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(g.model, {
        executionProviders: ['webgpu'],
        graphOptimizationLevel: 'all',
        preferredOutputLocation: 'gpu-buffer',
        extra: { session: { disable_cpu_ep_fallback: '1' } },
      });
    } catch (e) {
      return `ORT refused the one-node graph on WebGPU: ${(e as Error).message.split('\n')[0].slice(0, 200)}`;
    }
    const shapes = rowInputs(row.spec);
    const buffers: GPUBuffer[] = [];
    const feeds: Record<string, ort.Tensor> = {};
    for (const i of g.fed) {
      const bytes = inputs[i].byteLength;
      const buf = this.device.createBuffer({ size: Math.ceil(bytes / 16) * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      this.device.queue.writeBuffer(buf, 0, inputs[i] as Float32Array<ArrayBuffer>);
      buffers.push(buf);
      feeds[g.inputNames[i]] = ort.Tensor.fromGpuBuffer(buf, { dataType: 'float32', dims: shapes[i] });
    }
    await this.device.queue.onSubmittedWorkDone();
    const once = async () => (await session.run(feeds)).Y;
    return {
      run: async () => {
        const y = await once();
        await this.device.queue.onSubmittedWorkDone();
        y.dispose();
      },
      read: async () => {
        const y = await once();
        const data = (await y.getData(true)) as Float32Array;
        return [data];
      },
      dispose: async () => {
        await session.release();
        for (const b of buffers) b.destroy();
      },
    };
  }
}
