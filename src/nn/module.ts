import type { GpuRuntime } from '../gpu/runtime.ts';
import { numelOf, type DType } from '../tensor/dtype.ts';
import { keep } from '../tensor/scope.ts';
import { Tensor } from '../tensor/tensor.ts';
import { fillUniform, paramStream } from './init-rng.ts';
import type { ImportRule } from './state-dict.ts';

/** How a parameter starts: torch's defaults are uniform(±1/sqrt(fan_in)) for conv/linear, ones/zeros for norms. */
export type Init = { kind: 'uniform'; bound: number } | { kind: 'constant'; value: number };

export const uniformInit = (fanIn: number): Init => ({ kind: 'uniform', bound: 1 / Math.sqrt(fanIn) });
export const constantInit = (value: number): Init => ({ kind: 'constant', value });

/** A named slot for a weight: its shape and init are known when the model is built, its tensor once materialized. */
export class Parameter {
  tensor: Tensor | null = null;
  constructor(
    readonly shape: readonly number[],
    public init: Init,
  ) {}

  get numel(): number {
    return numelOf(this.shape);
  }

  /** The tensor; throws when the model has not been materialized (or loaded) yet. */
  get t(): Tensor {
    if (!this.tensor) throw new Error(`parameter [${this.shape}] used before the model was materialized or loaded`);
    return this.tensor;
  }

  /** Replaces the tensor (disposing the old one); the new one lives until the module is disposed. */
  set(t: Tensor, requiresGrad: boolean): void {
    if (t.shape.join() !== this.shape.join()) throw new Error(`parameter [${this.shape}] cannot take a tensor of shape [${t.shape}]`);
    this.tensor?.dispose();
    this.tensor = keep(t);
    t.requiresGrad = requiresGrad;
  }
}

export interface MaterializeOptions {
  /** Storage dtype of the weights (default f32). */
  dtype?: DType;
  /** 'default': torch's inits, drawn from `seed`. 'empty': allocate only (a load follows, or the meta device). */
  init?: 'default' | 'empty';
  seed?: number;
  /** Marks every parameter as trainable (default true). */
  requiresGrad?: boolean;
}

/**
 * The base of every layer and model: parameters and child modules registered under diffusers' names, so
 * that namedParameters() yields exactly a diffusers state_dict's keys ("down_blocks.0.resnets.1.conv1.weight").
 * Building a module allocates nothing; materialize() creates the weights through the ledger ('weights').
 */
export abstract class Module {
  /** Key renames a checkpoint may need on import (the VAE's old attention spelling); loadStateDict applies it. */
  readonly importRule?: ImportRule;
  private readonly ownParams = new Map<string, Parameter>();
  private readonly children = new Map<string, Module>();

  /** Registers a parameter; `name` is its last key segment ("weight", "bias"). */
  protected param(name: string, shape: readonly number[], init: Init): Parameter {
    if (this.ownParams.has(name)) throw new Error(`parameter "${name}" registered twice`);
    const p = new Parameter(shape, init);
    this.ownParams.set(name, p);
    return p;
  }

  /** Registers a child; the name may be dotted ("to_out.0", "ff.net.2") where diffusers nests containers. */
  protected child<M extends Module>(name: string, m: M): M {
    if (this.children.has(name)) throw new Error(`child module "${name}" registered twice`);
    this.children.set(name, m);
    return m;
  }

  /** Registers a list of children as name.0, name.1, ... (torch's ModuleList) and returns it. */
  protected list<M extends Module>(name: string, items: M[]): M[] {
    items.forEach((m, i) => this.child(`${name}.${i}`, m));
    return items;
  }

  /** Every parameter with its full dotted name, in registration order (diffusers' state_dict order). */
  *namedParameters(prefix = ''): Generator<[string, Parameter]> {
    for (const [name, p] of this.ownParams) yield [prefix + name, p];
    for (const [name, m] of this.children) yield* m.namedParameters(`${prefix}${name}.`);
  }

  *modules(): Generator<Module> {
    yield this;
    for (const m of this.children.values()) yield* m.modules();
  }

  /** Parameter by full name, or undefined. */
  parameter(name: string): Parameter | undefined {
    for (const [n, p] of this.namedParameters()) if (n === name) return p;
    return undefined;
  }

  /** name -> shape of every parameter: what a state_dict of this model must hold. */
  expectedShapes(): Map<string, readonly number[]> {
    return new Map([...this.namedParameters()].map(([n, p]) => [n, p.shape]));
  }

  parameterCount(): number {
    let n = 0;
    for (const [, p] of this.namedParameters()) n += p.numel;
    return n;
  }

  /** The parameters' tensors (for the optimizer, zeroGrad, gradient clipping). */
  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, p]) => p.t);
  }

  /**
   * Creates every parameter's tensor. On the meta device (or with init 'empty') nothing is drawn or
   * uploaded: only the ledger sees the allocations.
   */
  materialize(rt: GpuRuntime, opts: MaterializeOptions = {}): this {
    const { dtype = 'f32', init = 'default', seed = 0, requiresGrad = true } = opts;
    for (const [name, p] of this.namedParameters()) p.set(initialTensor(rt, name, p, { dtype, init, seed }), requiresGrad);
    return this;
  }

  /** Frees every parameter (and its gradient). */
  dispose(): void {
    for (const [, p] of this.namedParameters()) {
      p.tensor?.grad?.dispose();
      p.tensor?.dispose();
      p.tensor = null;
    }
  }
}

/** A parameter's starting tensor: its init drawn from the stream of (seed, name), or empty. */
export function initialTensor(rt: GpuRuntime, name: string, p: Parameter, opts: { dtype: DType; init: 'default' | 'empty'; seed: number }): Tensor {
  if (opts.init === 'empty' || rt.isMeta) return Tensor.empty(rt, p.shape, opts.dtype, 'weights', name);
  const values = new Float32Array(p.numel);
  if (p.init.kind === 'constant') values.fill(p.init.value);
  else fillUniform(values, p.init.bound, paramStream(opts.seed, name));
  return Tensor.fromArray(rt, values, p.shape, opts.dtype, 'weights', name);
}
