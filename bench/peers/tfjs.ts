/**
 * TensorFlow.js with its WebGPU backend. Each op is written the way a TF.js user would: tf.matMul,
 * tf.fused.conv2d on NHWC (its native layout; inputs are transposed before timing), group norm from
 * tf.moments, attention as matMul -> softmax -> matMul (TF.js has no fused attention, so the score matrix
 * is materialized). Backward with tf.grads(f)(inputs, dy).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { hwioToOihw, nchwToNhwc, nhwcToNchw, oihwToHwio, type Peer, type Prepared } from './peer.ts';
import { rowInputs, rowOutput, type PeerRow, type RowSpec } from './rows.ts';

type Fn = (...xs: tf.Tensor[]) => tf.Tensor;

/** The op, the inputs in TF.js's layout, and how to bring outputs and gradients back to ours. */
function plan(spec: RowSpec, inputs: Float32Array[], gy: Float32Array) {
  const shapes = rowInputs(spec);
  const id = (x: Float32Array) => x;
  switch (spec.kind) {
    case 'matmul':
      return { f: ((a, b) => tf.matMul(a, b)) as Fn, xs: inputs, shapes, gy, gyShape: rowOutput(spec), back: [id, id], outBack: id };
    case 'conv3x3': {
      const { n, cin, h, w, cout } = spec;
      return {
        f: ((x, filter, bias) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: filter as tf.Tensor4D, bias, strides: 1, pad: 'same' })) as Fn,
        xs: [nchwToNhwc(inputs[0], n, cin, h, w), oihwToHwio(inputs[1], cout, cin, 3, 3), inputs[2]],
        shapes: [[n, h, w, cin], [3, 3, cin, cout], [cout]],
        gy: nchwToNhwc(gy, n, cout, h, w),
        gyShape: [n, h, w, cout],
        back: [(g: Float32Array) => nhwcToNchw(g, n, cin, h, w), (g: Float32Array) => hwioToOihw(g, cout, cin, 3, 3), id],
        outBack: (y: Float32Array) => nhwcToNchw(y, n, cout, h, w),
      };
    }
    case 'group_norm': {
      const { n, c, h, w, groups, eps } = spec;
      const f: Fn = (x, weight, bias) => {
        const xr = x.reshape([n, groups, (c / groups) * h * w]);
        const { mean, variance } = tf.moments(xr, 2, true);
        const xn = xr.sub(mean).mul(tf.rsqrt(variance.add(eps))).reshape([n, c, h, w]);
        return xn.mul(weight.reshape([1, c, 1, 1])).add(bias.reshape([1, c, 1, 1]));
      };
      return { f, xs: inputs, shapes, gy, gyShape: rowOutput(spec), back: [id, id, id], outBack: id };
    }
    case 'attention': {
      const { B, nq, nk, heads, D } = spec;
      const split = (t: tf.Tensor, len: number) => t.reshape([B, len, heads, D]).transpose([0, 2, 1, 3]);
      const f: Fn = (q, k, v) => {
        const s = tf.matMul(split(q, nq), split(k, nk), false, true).mul(1 / Math.sqrt(D));
        const o = tf.matMul(tf.softmax(s), split(v, nk));
        return o.transpose([0, 2, 1, 3]).reshape([B, nq, heads * D]);
      };
      return { f, xs: inputs, shapes, gy, gyShape: rowOutput(spec), back: [id, id, id], outBack: id };
    }
  }
}

export class TfjsPeer implements Peer {
  name = 'TF.js webgpu';
  version = tf.version.tfjs;
  trains = true;
  private backend!: WebGPUBackend;

  async init(): Promise<void> {
    const registered = Object.keys(tf.engine().registryFactory);
    if (!registered.includes('webgpu')) throw new Error(`TF.js has no webgpu backend registered (it has ${registered.join(', ')}; navigator.gpu: ${!!navigator.gpu})`);
    if (!(await tf.setBackend('webgpu'))) throw new Error('TF.js could not start its WebGPU backend');
    await tf.ready();
    this.backend = tf.backend() as WebGPUBackend;
  }

  async prepare(row: PeerRow, mode: 'fwd' | 'fwdbwd', inputs: Float32Array[], gyData: Float32Array): Promise<Prepared> {
    const p = plan(row.spec, inputs, gyData);
    const xs = p.xs.map((d, i) => tf.tensor(d, p.shapes[i]));
    const dy = tf.tensor(p.gy, p.gyShape);
    const g = tf.grads(p.f);
    const once = (): tf.Tensor[] => tf.tidy(() => (mode === 'fwd' ? [p.f(...xs)] : g(xs, dy)));
    const done = () => {
      // What TF.js itself does before a readback: close the open pass, submit the encoder.
      const b = this.backend as unknown as { ensureCommandEncoderReady(): void; endComputePassEncoder(): void; submitQueue(): void };
      b.ensureCommandEncoderReady();
      b.endComputePassEncoder();
      b.submitQueue();
      return this.backend.device.queue.onSubmittedWorkDone();
    };
    return {
      run: async () => {
        const outs = once();
        await done();
        tf.dispose(outs);
      },
      read: async () => {
        const outs = once();
        const host = await Promise.all(outs.map((o) => o.data() as Promise<Float32Array>));
        tf.dispose(outs);
        return mode === 'fwd' ? [p.outBack(host[0])] : host.map((h, i) => p.back[i](h));
      },
      dispose: () => tf.dispose([...xs, dy]),
    };
  }

  /** Bytes TF.js holds now (tf.memory()), for the training row. */
  memoryBytes(): number {
    return tf.memory().numBytes;
  }
}
