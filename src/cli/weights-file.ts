/**
 * Opens a .safetensors or PyTorch .pt file from disk as a WeightSource (src/nn/state-dict.ts): the header
 * or pickle is read at once, each tensor on demand, so large checkpoints are never held whole.
 */
import { openAsBlob } from 'node:fs';
import { openSafetensors } from '../io/safetensors.ts';
import { openTorchCheckpoint } from '../io/torch-pt.ts';
import type { WeightSource } from '../nn/state-dict.ts';

export interface WeightsFile extends WeightSource {
  format: 'safetensors' | 'torch';
  metadata: Record<string, string>;
  globalStep?: number;
}

export async function openWeightsFile(path: string): Promise<WeightsFile> {
  const blob = await openAsBlob(path);
  const magic = new Uint8Array(await blob.slice(0, 4).arrayBuffer());
  // torch.save writes a zip ("PK\x03\x04"); safetensors starts with its header length.
  if (magic[0] === 0x50 && magic[1] === 0x4b) {
    const ckpt = await openTorchCheckpoint(blob);
    const refs = ckpt.stateDict;
    return {
      format: 'torch',
      metadata: {},
      globalStep: ckpt.globalStep,
      entries: [...refs].map(([name, r]) => ({ name, shape: r.shape, dtype: r.dtype })),
      read: (name) => {
        const r = refs.get(name);
        if (!r) throw new Error(`${path} has no tensor "${name}"`);
        return ckpt.readTensor(r);
      },
    };
  }
  const st = await openSafetensors(blob);
  return { format: 'safetensors', metadata: st.metadata, entries: st.entries, read: (name) => st.read(name) };
}
