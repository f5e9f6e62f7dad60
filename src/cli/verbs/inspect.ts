import { readFileSync } from 'node:fs';
import { GpuRuntime } from '../../gpu/runtime.ts';
import type { DeviceLimits } from '../../gpu/device.ts';
import { ITEM_SIZE } from '../../io/dtype.ts';
import { storageBytes, type DType } from '../../tensor/dtype.ts';
import { getPreset, importRuleOf, modelFromConfig, PRESETS, type AnyModel } from '../../nn/presets.ts';
import { describeMismatch, matchStateDict, type MatchReport } from '../../nn/state-dict.ts';
import type { Args } from '../args.ts';
import { openWeightsFile } from '../weights-file.ts';

export const help = 'a model preset or a weights file: parameters, tensors, weight bytes, name matching [--preset NAME | --config C.json] [--weights FILE] [--json]';

/**
 * Limits for the planner's device when no GPU is asked: a desktop-class adapter. Only maxBufferSize matters
 * for materializing weights (the largest stage-1 tensor is 118 MB).
 */
const META_LIMITS: DeviceLimits = {
  maxBufferSize: 4 * 2 ** 30,
  maxStorageBufferBindingSize: 2 ** 31,
  maxComputeWorkgroupStorageSize: 32768,
  maxComputeInvocationsPerWorkgroup: 1024,
  maxComputeWorkgroupSizeX: 1024,
  maxComputeWorkgroupSizeY: 1024,
  maxComputeWorkgroupSizeZ: 64,
  maxStorageBuffersPerShaderStage: 10,
  maxComputeWorkgroupsPerDimension: 65535,
  maxUniformBufferBindingSize: 65536,
  maxBindGroups: 4,
};

export interface ModelSummary {
  kind: 'unet' | 'vae';
  className: string;
  parameters: number;
  tensors: number;
  /** Per storage dtype: the tensors' own bytes, and what the ledger holds for them on the meta device (size classes). */
  weightBytes: Record<DType, { tensors: number; ledger: number }>;
}

/** Counts a model on the meta device: every weight allocated through the ledger, no GPU memory. */
export function summarize(model: AnyModel): ModelSummary {
  const weightBytes = {} as ModelSummary['weightBytes'];
  for (const dtype of ['f32', 'f16'] as const) {
    const rt = GpuRuntime.meta(META_LIMITS);
    const before = rt.ledger.snapshot().liveByCategory.weights;
    model.materialize(rt, { dtype, requiresGrad: false });
    let tensors = 0;
    for (const [, p] of model.namedParameters()) tensors += storageBytes(p.numel, dtype);
    weightBytes[dtype] = { tensors, ledger: rt.ledger.snapshot().liveByCategory.weights - before };
    model.dispose();
  }
  const kind = model.config._class_name === 'AutoencoderKL' ? 'vae' : 'unet';
  return { kind, className: model.config._class_name, parameters: model.parameterCount(), tensors: [...model.namedParameters()].length, weightBytes };
}

function modelFromArgs(args: Args): { model: AnyModel; source: string } | null {
  const preset = args.str('preset');
  const config = args.str('config');
  if (preset && config) throw new Error('give --preset or --config, not both');
  if (preset) return { model: modelFromConfig(getPreset(preset).config), source: `preset ${preset}` };
  if (config) return { model: modelFromConfig(JSON.parse(readFileSync(config, 'utf8'))), source: config };
  return null;
}

export async function run(args: Args): Promise<void> {
  const json = args.bool('json');
  const weights = args.str('weights');
  const chosen = modelFromArgs(args);
  if (!weights && !chosen) throw new Error(`inspect needs --preset NAME, --config CONFIG.json or --weights FILE; presets: ${Object.keys(PRESETS).join(', ')}`);

  if (!weights) {
    const s = summarize(chosen!.model);
    const out = { model: chosen!.source, ...s };
    if (json) console.log(JSON.stringify(out, null, 2));
    else {
      console.log(`${chosen!.source}: ${s.className}`);
      console.log(`  parameters  ${s.parameters}`);
      console.log(`  tensors     ${s.tensors}`);
      for (const [d, b] of Object.entries(s.weightBytes)) console.log(`  weights ${d}  ${b.tensors} bytes (${b.ledger} held by the ledger)`);
    }
    return;
  }

  const file = await openWeightsFile(weights);
  const tensors = file.entries.map((e) => ({ name: e.name, dtype: e.dtype, shape: [...e.shape], bytes: e.shape.reduce((a, b) => a * b, 1) * ITEM_SIZE[e.dtype] }));
  const parameters = file.entries.reduce((n, e) => n + e.shape.reduce((a, b) => a * b, 1), 0);
  let match: (MatchReport & { against: string }) | null = null;
  if (chosen) {
    match = { against: chosen.source, ...matchStateDict(chosen.model.expectedShapes(), file.entries, importRuleOf(chosen.model)) };
  } else {
    // No model named: report the preset the file matches best.
    for (const name of Object.keys(PRESETS)) {
      const m = modelFromConfig(PRESETS[name].config);
      const r = matchStateDict(m.expectedShapes(), file.entries, importRuleOf(m));
      if (!match || r.matched.length > match.matched.length) match = { against: `preset ${name} (best match)`, ...r };
    }
  }
  const out = { file: weights, format: file.format, globalStep: file.globalStep ?? null, metadata: file.metadata, tensorCount: tensors.length, parameters, tensors, match };
  if (json) {
    console.log(JSON.stringify(out, null, 2));
    return;
  }
  console.log(`${weights}: ${file.format}, ${tensors.length} tensors, ${parameters} parameters${file.globalStep !== undefined ? `, global_step ${file.globalStep}` : ''}`);
  for (const t of tensors) console.log(`  ${t.name.padEnd(72)} ${t.dtype.padEnd(5)} [${t.shape.join(', ')}]`);
  if (match) {
    console.log(`against ${match.against}: ${match.ok ? 'all match' : 'mismatch'} (${match.matched.length} match${match.renamed.length ? `, ${match.renamed.length} renamed on import` : ''})`);
    if (!match.ok) console.log(describeMismatch(match, 20));
  }
}
