/** latent-lab's own ops as a peer of the page (the reference every other library is checked against). */
import { acquireDevice } from '../../src/gpu/device.ts';
import { GpuRuntime } from '../../src/gpu/runtime.ts';
import { attention } from '../../src/tensor/ops/attention.ts';
import { conv2d } from '../../src/tensor/ops/conv2d.ts';
import { groupNorm } from '../../src/tensor/ops/group-norm.ts';
import { matmul } from '../../src/tensor/ops/matmul.ts';
import { scope } from '../../src/tensor/scope.ts';
import { backward, noGrad, zeroGrad } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { GpuTimer } from '../lib/timer.ts';
import type { Peer, Prepared } from './peer.ts';
import { rowInputs, rowOutput, type PeerRow, type RowSpec } from './rows.ts';

export function forwardOf(spec: RowSpec): (xs: Tensor[]) => Tensor {
  switch (spec.kind) {
    case 'matmul':
      return ([a, b]) => matmul(a, b);
    case 'conv3x3':
      return ([x, w, b]) => conv2d(x, w, b, { padding: 1 });
    case 'group_norm':
      return ([x, w, b]) => groupNorm(x, w, b, { groups: spec.groups, eps: spec.eps });
    case 'attention':
      return ([q, k, v]) => attention(q, k, v, spec.heads);
  }
}

export class OursPeer implements Peer {
  name = 'latent-lab';
  version = 'this tree';
  trains = true;
  rt!: GpuRuntime;
  timer!: GpuTimer;
  adapter = '';

  async init(gpu: GPU | undefined = globalThis.navigator?.gpu): Promise<void> {
    const ctx = await acquireDevice(gpu);
    this.rt = GpuRuntime.forDevice(ctx);
    this.timer = new GpuTimer(ctx.device);
    this.adapter = ctx.report.name;
  }

  async prepare(row: PeerRow, mode: 'fwd' | 'fwdbwd', inputs: Float32Array[], gyData: Float32Array): Promise<Prepared> {
    const rt = this.rt;
    const shapes = rowInputs(row.spec);
    const xs = inputs.map((d, i) => Tensor.fromArray(rt, d, shapes[i], 'f32', 'data', `peer in ${i}`));
    const gy = Tensor.fromArray(rt, gyData, rowOutput(row.spec), 'f32', 'data', 'peer gy');
    const f = forwardOf(row.spec);
    const done = () => {
      rt.flush();
      return rt.device.queue.onSubmittedWorkDone();
    };
    let last: Tensor | null = null;
    const once = (keepY: boolean) => {
      last?.dispose();
      last = null;
      if (mode === 'fwd') {
        const y = scope(() => noGrad(() => f(xs)));
        if (keepY) last = y;
        else y.dispose();
        return;
      }
      // Fresh gradients every run (as zero_grad(set_to_none=True) does), so a run's grads are its own.
      zeroGrad(xs, true);
      for (const x of xs) x.requiresGrad = true;
      scope(() => backward(f(xs), gy.alias()));
    };
    return {
      run: async () => {
        once(false);
        await done();
      },
      read: async () => {
        once(true);
        await done();
        if (mode === 'fwd') return [await last!.toArray()];
        return Tensor.readAll(xs.map((x) => x.grad!));
      },
      dispose: () => {
        last?.dispose();
        zeroGrad(xs, true);
        for (const x of [...xs, gy]) x.dispose();
      },
    };
  }
}
