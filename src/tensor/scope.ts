/**
 * Ownership of GPU tensors without a garbage collector: every tensor handle made inside scope(fn) is
 * disposed when fn returns, unless it is part of fn's result (then it moves to the enclosing scope).
 * Handles made outside any scope (parameters, optimizer state) live until disposed explicitly.
 */
export interface Disposable {
  dispose(): void;
  readonly disposed: boolean;
}

const stack: Set<Disposable>[] = [];

export function track<T extends Disposable>(t: T): T {
  stack[stack.length - 1]?.add(t);
  return t;
}

/** Removes a handle from scope tracking: it stays alive until disposed by hand. */
export function keep<T extends Disposable>(t: T): T {
  for (const s of stack) s.delete(t);
  return t;
}

export function scope<T>(fn: () => T): T {
  const mine = new Set<Disposable>();
  stack.push(mine);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    stack.pop();
    for (const t of mine) t.dispose();
    throw e;
  }
  stack.pop();
  if (result instanceof Promise) throw new Error('scope(fn) takes a synchronous fn: GPU work is recorded synchronously');
  const kept = new Set<Disposable>();
  collect(result, kept);
  for (const t of mine) if (!kept.has(t)) t.dispose();
  const parent = stack[stack.length - 1];
  if (parent) for (const t of kept) if (mine.has(t)) parent.add(t);
  return result;
}

/** Finds the disposables in a result: itself, or inside arrays, Maps and plain objects. */
function collect(v: unknown, out: Set<Disposable>): void {
  if (!v || typeof v !== 'object') return;
  if (isDisposable(v)) {
    out.add(v);
    return;
  }
  if (Array.isArray(v)) v.forEach((x) => collect(x, out));
  else if (v instanceof Map) v.forEach((x) => collect(x, out));
  else if (Object.getPrototypeOf(v) === Object.prototype) Object.values(v).forEach((x) => collect(x, out));
}

const isDisposable = (v: object): v is Disposable => typeof (v as Disposable).dispose === 'function' && 'disposed' in v;
