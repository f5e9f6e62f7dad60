/**
 * jax-js on its WebGPU device. Each op is a jit-compiled function (jax-js fuses what it can): np.matmul,
 * lax.conv on NCHW (its native layout, like ours), group norm from mean/variance, nn.dotProductAttention
 * ([B, L, heads, D], a reshape of ours). Backward with vjp(f, inputs) and the cotangent gy. jax-js counts
 * references: every call consumes its arguments, so inputs are passed as `.ref`.
 */
import { blockUntilReady, defaultDevice, getWebGPUDevice, init, jit, lax, nn, numpy as np, vjp } from '@jax-js/jax';
import type { Peer, Prepared } from './peer.ts';
import { rowInputs, rowOutput, type PeerRow, type RowSpec } from './rows.ts';

type Arr = np.Array;
type Fn = (...xs: Arr[]) => Arr;

function fnOf(spec: RowSpec): Fn {
  switch (spec.kind) {
    case 'matmul':
      return (a, b) => np.matmul(a, b);
    case 'conv3x3': {
      const c = spec.cout;
      return (x, w, b) => lax.conv(x, w, [1, 1], [[1, 1], [1, 1]]).add(b.reshape([1, c, 1, 1]));
    }
    case 'group_norm': {
      const { n, c, h, w, groups, eps } = spec;
      return (x, weight, bias) => {
        const xr = x.reshape([n, groups, (c / groups) * h * w]);
        const xc = xr.ref.sub(xr.mean(2, { keepdims: true }));
        const v = xc.ref.mul(xc.ref).mean(2, { keepdims: true });
        const xn = xc.mul(np.reciprocal(np.sqrt(v.add(eps)))).reshape([n, c, h, w]);
        return xn.mul(weight.reshape([1, c, 1, 1])).add(bias.reshape([1, c, 1, 1]));
      };
    }
    case 'attention': {
      const { B, nq, nk, heads, D } = spec;
      return (q, k, v) =>
        nn.dotProductAttention(q.reshape([B, nq, heads, D]), k.reshape([B, nk, heads, D]), v.reshape([B, nk, heads, D])).reshape([B, nq, heads * D]);
    }
  }
}

export class JaxjsPeer implements Peer {
  name = 'jax-js webgpu';
  version = '0.1.25';
  trains = true;

  async init(): Promise<void> {
    const got = await init('webgpu');
    if (!got.includes('webgpu')) throw new Error('jax-js found no WebGPU device');
    defaultDevice('webgpu');
  }

  async prepare(row: PeerRow, mode: 'fwd' | 'fwdbwd', inputs: Float32Array[], gyData: Float32Array): Promise<Prepared> {
    const shapes = rowInputs(row.spec);
    const xs = inputs.map((d, i) => np.array(d).reshape(shapes[i]));
    const gy = np.array(gyData).reshape(rowOutput(row.spec));
    await blockUntilReady([...xs.map((x) => x.ref), gy.ref]);
    const f = fnOf(row.spec);
    const fwd = jit(f as (...a: Arr[]) => Arr);
    // jax-js is lazy: y is kept among the outputs waited for, or its forward would never run (a training
    // step needs y for the next layer; ours and TF.js compute it).
    const once = (): Arr[] => {
      if (mode === 'fwd') return [fwd(...xs.map((x) => x.ref))];
      const [y, back] = vjp(f, xs.map((x) => x.ref));
      const grads = back(gy.ref) as unknown as Arr[];
      back.dispose();
      return [...grads, y];
    };
    const device = getWebGPUDevice();
    return {
      run: async () => {
        const outs = once();
        await blockUntilReady(outs.map((o) => o.ref));
        await device.queue.onSubmittedWorkDone();
        for (const o of outs) o.dispose();
      },
      read: async () => {
        const outs = once();
        const host = await Promise.all(outs.map(async (o) => new Float32Array(await o.data())));
        return mode === 'fwd' ? host : host.slice(0, -1);
      },
      dispose: () => {
        for (const x of xs) x.dispose();
        gy.dispose();
        fwd.dispose();
      },
    };
  }
}
