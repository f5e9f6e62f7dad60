// Python pickle, protocols 2-5, reduced to data: the unpickler builds only plain values and asks
// its hooks for every global. Nothing in a pickle can run code here: GLOBAL yields whatever the
// hooks return (they refuse anything off their allow-list), and REDUCE calls only a PyCallable
// that the hooks handed out. Opcodes that build arbitrary objects are refused outright.
//
// Python values map to: None -> null, bool -> boolean, int -> number (bigint past 2^53),
// float -> number, str -> string, bytes -> Uint8Array, list -> array, tuple -> frozen array,
// dict -> Map.
import { CheckpointFormatError, UnsafePickleError } from './errors.ts';

/** A module-level Python name (GLOBAL). The pickler writes it; the unpickler's hooks return it. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualname(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An allowed callable: REDUCE runs `call`, a JS function that builds data and never runs Python. */
export class PyCallable extends PyGlobal {
  constructor(
    module: string,
    name: string,
    readonly call: (args: readonly unknown[]) => unknown,
  ) {
    super(module, name);
  }
}

export interface UnpickleHooks {
  /** What GLOBAL module.name pushes. Throw UnsafePickleError to refuse. */
  global(module: string, name: string): unknown;
  /** What BINPERSID pushes for a persistent id (torch: a storage reference). */
  persistentLoad(pid: unknown): unknown;
}

const OP = {
  MARK: 0x28, STOP: 0x2e, POP: 0x30, POP_MARK: 0x31, DUP: 0x32, BINFLOAT: 0x47, BININT: 0x4a, BININT1: 0x4b,
  BININT2: 0x4d, NONE: 0x4e, BINPERSID: 0x51, REDUCE: 0x52, BINSTRING: 0x54, SHORT_BINSTRING: 0x55,
  BINUNICODE: 0x58, EMPTY_LIST: 0x5d, APPEND: 0x61, BUILD: 0x62, GLOBAL: 0x63, DICT: 0x64, EMPTY_DICT: 0x7d,
  APPENDS: 0x65, BINGET: 0x68, INST: 0x69, LONG_BINGET: 0x6a, LIST: 0x6c, OBJ: 0x6f, BINPUT: 0x71,
  LONG_BINPUT: 0x72, SETITEM: 0x73, TUPLE: 0x74, SETITEMS: 0x75, EMPTY_TUPLE: 0x29, PROTO: 0x80, NEWOBJ: 0x81,
  EXT1: 0x82, EXT2: 0x83, EXT4: 0x84, TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87, NEWTRUE: 0x88, NEWFALSE: 0x89,
  LONG1: 0x8a, LONG4: 0x8b, BINBYTES: 0x42, SHORT_BINBYTES: 0x43, SHORT_BINUNICODE: 0x8c, BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e, STACK_GLOBAL: 0x93, MEMOIZE: 0x94, FRAME: 0x95, NEWOBJ_EX: 0x92,
} as const;

/** Integers longer than this are refused: no checkpoint needs them, and BigInt parsing is quadratic. */
const MAX_LONG_BYTES = 64;

const isList = (v: unknown): v is unknown[] => Array.isArray(v) && !Object.isFrozen(v);

function describe(v: unknown): string {
  if (v instanceof PyGlobal) return v.qualname;
  if (v instanceof Map) return 'a dict';
  if (Array.isArray(v)) return Object.isFrozen(v) ? 'a tuple' : 'a list';
  return v === null ? 'None' : `a ${typeof v}`;
}

function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length); // two's complement
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

export function unpickle(bytes: Uint8Array, hooks: UnpickleHooks): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder();
  const latin1 = new TextDecoder('latin1');
  const stack: unknown[] = [];
  const marks: number[] = []; // stack heights at each MARK
  const memo = new Map<number, unknown>();
  let pos = 0;
  let opAt = 0;

  const fail = (what: string): never => {
    throw new CheckpointFormatError('pickle', `The checkpoint's pickle is damaged: ${what} (byte ${opAt}). Export the file again.`);
  };
  const take = (n: number): number => {
    if (!Number.isSafeInteger(n) || n < 0 || pos + n > bytes.byteLength) fail(`it ends early (wanted ${n} more bytes)`);
    pos += n;
    return pos - n;
  };
  const u8 = (): number => bytes[take(1)]!;
  const u32 = (): number => view.getUint32(take(4), true);
  const u64 = (): number => {
    const at = take(8);
    return view.getUint32(at + 4, true) * 2 ** 32 + view.getUint32(at, true);
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('a GLOBAL name has no line end');
    const s = utf8.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const floor = (): number => (marks.length ? marks[marks.length - 1]! : 0);
  const pop = (): unknown => {
    if (stack.length <= floor()) fail('the stack is empty');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length <= floor()) fail('the stack is empty');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail('a MARK is missing');
    return stack.splice(m!);
  };
  const tuple = (items: unknown[]): readonly unknown[] => Object.freeze(items);
  const fillDict = (d: Map<unknown, unknown>, items: unknown[]): Map<unknown, unknown> => {
    if (items.length % 2) fail('a dict gets an odd number of keys and values');
    for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1]);
    return d;
  };
  const setItems = (items: unknown[]): void => {
    const d = top();
    if (!(d instanceof Map)) throw new UnsafePickleError(`setting items on ${describe(d)}`, `byte ${opAt}`);
    fillDict(d, items);
  };
  const appendTo = (items: unknown[]): void => {
    const l = top();
    if (!isList(l)) throw new UnsafePickleError(`appending to ${describe(l)}`, `byte ${opAt}`);
    for (const item of items) l.push(item);
  };

  for (;;) {
    opAt = pos;
    const op = u8();
    switch (op) {
      case OP.PROTO:
        if (u8() > 5) fail('the pickle protocol is newer than 5');
        break;
      case OP.FRAME: // framing only groups bytes for buffered reads; the opcodes follow as usual
        take(8);
        break;
      case OP.STOP:
        return pop();
      case OP.MARK:
        marks.push(stack.length);
        break;
      case OP.POP:
        pop();
        break;
      case OP.POP_MARK:
        popMark();
        break;
      case OP.DUP:
        stack.push(top());
        break;
      case OP.NONE:
        stack.push(null);
        break;
      case OP.NEWTRUE:
        stack.push(true);
        break;
      case OP.NEWFALSE:
        stack.push(false);
        break;
      case OP.BININT:
        stack.push(view.getInt32(take(4), true));
        break;
      case OP.BININT1:
        stack.push(u8());
        break;
      case OP.BININT2:
        stack.push(view.getUint16(take(2), true));
        break;
      case OP.LONG1:
      case OP.LONG4: {
        const n = op === OP.LONG1 ? u8() : u32();
        if (n > MAX_LONG_BYTES) fail(`an integer is ${n} bytes long`);
        stack.push(decodeLong(bytes.subarray(take(n), pos)));
        break;
      }
      case OP.BINFLOAT:
        stack.push(view.getFloat64(take(8), false)); // big-endian, unlike everything else
        break;
      case OP.SHORT_BINUNICODE:
      case OP.BINUNICODE:
      case OP.BINUNICODE8: {
        const n = op === OP.SHORT_BINUNICODE ? u8() : op === OP.BINUNICODE ? u32() : u64();
        stack.push(utf8.decode(bytes.subarray(take(n), pos)));
        break;
      }
      case OP.SHORT_BINSTRING:
      case OP.BINSTRING: {
        // Python 2 str: torch decodes these as ASCII/latin-1 text.
        const n = op === OP.SHORT_BINSTRING ? u8() : u32();
        stack.push(latin1.decode(bytes.subarray(take(n), pos)));
        break;
      }
      case OP.SHORT_BINBYTES:
      case OP.BINBYTES:
      case OP.BINBYTES8: {
        const n = op === OP.SHORT_BINBYTES ? u8() : op === OP.BINBYTES ? u32() : u64();
        stack.push(bytes.slice(take(n), pos));
        break;
      }
      case OP.EMPTY_LIST:
        stack.push([]);
        break;
      case OP.EMPTY_TUPLE:
        stack.push(tuple([]));
        break;
      case OP.EMPTY_DICT:
        stack.push(new Map());
        break;
      case OP.LIST:
        stack.push(popMark());
        break;
      case OP.TUPLE:
        stack.push(tuple(popMark()));
        break;
      case OP.TUPLE1:
      case OP.TUPLE2:
      case OP.TUPLE3: {
        const items = Array.from({ length: op - OP.TUPLE1 + 1 }, pop).reverse();
        stack.push(tuple(items));
        break;
      }
      case OP.DICT:
        stack.push(fillDict(new Map(), popMark()));
        break;
      case OP.APPEND:
        appendTo([pop()]);
        break;
      case OP.APPENDS:
        appendTo(popMark());
        break;
      case OP.SETITEM: {
        const v = pop();
        const k = pop();
        setItems([k, v]);
        break;
      }
      case OP.SETITEMS:
        setItems(popMark());
        break;
      case OP.BINPUT:
        memo.set(u8(), top());
        break;
      case OP.LONG_BINPUT:
        memo.set(u32(), top());
        break;
      case OP.MEMOIZE:
        memo.set(memo.size, top());
        break;
      case OP.BINGET:
      case OP.LONG_BINGET: {
        const i = op === OP.BINGET ? u8() : u32();
        if (!memo.has(i)) fail(`memo slot ${i} was never filled`);
        stack.push(memo.get(i));
        break;
      }
      case OP.GLOBAL: {
        const module = line();
        stack.push(hooks.global(module, line()));
        break;
      }
      case OP.STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(hooks.global(module as string, name as string));
        break;
      }
      case OP.REDUCE: {
        const args = pop();
        const fn = pop();
        if (!(fn instanceof PyCallable)) throw new UnsafePickleError(`a call to ${describe(fn)}`, `REDUCE at byte ${opAt}`);
        if (!Array.isArray(args)) fail(`the arguments to ${fn.qualname} are not a tuple`);
        stack.push(fn.call(args as unknown[]));
        break;
      }
      case OP.BUILD: {
        // Python sets instance state here (obj.__setstate__). The only state a state_dict carries
        // is an OrderedDict's _metadata (per-module versions), which latent-lab does not need.
        const state = pop();
        const obj = top();
        if (!(obj instanceof Map) || !(state instanceof Map || state === null)) {
          throw new UnsafePickleError(`setting the state of ${describe(obj)}`, `BUILD at byte ${opAt}`);
        }
        break;
      }
      case OP.BINPERSID:
        stack.push(hooks.persistentLoad(pop()));
        break;
      case OP.NEWOBJ:
      case OP.NEWOBJ_EX: {
        if (op === OP.NEWOBJ_EX) pop(); // kwargs
        pop(); // args
        throw new UnsafePickleError(`an instance of ${describe(pop())}`, `NEWOBJ at byte ${opAt}`);
      }
      case OP.INST:
      case OP.OBJ:
      case OP.EXT1:
      case OP.EXT2:
      case OP.EXT4:
        throw new UnsafePickleError(`opcode 0x${op.toString(16)}, which builds arbitrary objects`, `byte ${opAt}`);
      default:
        fail(`unknown or unsupported opcode 0x${op.toString(16)}`);
    }
  }
}

/** A call that the unpickler runs as func(*args); `items` follow as dict entries (OrderedDict). */
export class PyReduce {
  constructor(
    readonly func: PyGlobal,
    readonly args: readonly unknown[],
    readonly items?: ReadonlyMap<unknown, unknown>,
  ) {}
}

/** A persistent id (BINPERSID): torch stores each tensor storage outside the pickle this way. */
export class PyPersistentId {
  constructor(readonly pid: unknown) {}
}

/** A Python tuple (the pickler writes frozen arrays as tuples, other arrays as lists). */
export const pyTuple = (...items: unknown[]): readonly unknown[] => Object.freeze(items);

/**
 * Pickles with protocol 2 opcodes only, and only those torch 1.13's weights_only unpickler knows
 * (so no FRAME, MEMOIZE or SHORT_BINUNICODE). Integral numbers are written as int, others as float.
 */
export function pickle(value: unknown): Uint8Array<ArrayBuffer> {
  let buf = new Uint8Array(1024);
  let len = 0;
  const reserve = (n: number): DataView => {
    if (len + n > buf.byteLength) {
      const bigger = new Uint8Array(Math.max(buf.byteLength * 2, len + n));
      bigger.set(buf.subarray(0, len));
      buf = bigger;
    }
    len += n;
    return new DataView(buf.buffer, len - n, n);
  };
  const op = (code: number): void => {
    reserve(1).setUint8(0, code);
  };
  const raw = (b: Uint8Array): void => {
    reserve(b.byteLength);
    buf.set(b, len - b.byteLength);
  };
  const utf8 = new TextEncoder();
  const globalsMemo = new Map<string, number>();

  const saveInt = (n: number | bigint): void => {
    if (typeof n === 'number' && n >= 0 && n < 256) {
      op(OP.BININT1);
      return op(n);
    }
    if (typeof n === 'number' && n >= 0 && n < 65536) {
      op(OP.BININT2);
      return reserve(2).setUint16(0, n, true);
    }
    if (typeof n === 'number' && n >= -(2 ** 31) && n < 2 ** 31) {
      op(OP.BININT);
      return reserve(4).setInt32(0, n, true);
    }
    // LONG1: little-endian two's complement, as few bytes as keep the sign.
    let v = BigInt(n);
    const out: number[] = [];
    for (;;) {
      const byte = Number(v & 0xffn);
      out.push(byte);
      v >>= 8n;
      if ((v === 0n && !(byte & 0x80)) || (v === -1n && byte & 0x80)) break;
    }
    op(OP.LONG1);
    op(out.length);
    raw(Uint8Array.from(out));
  };

  const save = (v: unknown): void => {
    if (v === null) op(OP.NONE);
    else if (typeof v === 'boolean') op(v ? OP.NEWTRUE : OP.NEWFALSE);
    else if (typeof v === 'bigint') saveInt(v);
    else if (typeof v === 'number') {
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) saveInt(v);
      else {
        op(OP.BINFLOAT);
        reserve(8).setFloat64(0, v, false);
      }
    } else if (typeof v === 'string') {
      const b = utf8.encode(v);
      op(OP.BINUNICODE);
      reserve(4).setUint32(0, b.byteLength, true);
      raw(b);
    } else if (Array.isArray(v)) {
      if (Object.isFrozen(v)) {
        if (v.length === 0) return op(OP.EMPTY_TUPLE);
        if (v.length > 3) op(OP.MARK);
        v.forEach(save);
        op(v.length > 3 ? OP.TUPLE : OP.TUPLE1 + v.length - 1);
      } else {
        op(OP.EMPTY_LIST);
        if (v.length > 0) {
          op(OP.MARK);
          v.forEach(save);
          op(OP.APPENDS);
        }
      }
    } else if (v instanceof Map) {
      op(OP.EMPTY_DICT);
      saveItems(v);
    } else if (v instanceof PyGlobal) {
      // Each global is written once and fetched from the memo after that, as torch.save does.
      const known = globalsMemo.get(v.qualname);
      const slot = known ?? globalsMemo.size;
      if (known === undefined) {
        op(OP.GLOBAL);
        raw(utf8.encode(`${v.module}\n${v.name}\n`));
        globalsMemo.set(v.qualname, slot);
      }
      op(known === undefined ? OP.LONG_BINPUT : OP.LONG_BINGET);
      reserve(4).setUint32(0, slot, true);
    } else if (v instanceof PyReduce) {
      save(v.func);
      save(Object.freeze([...v.args]));
      op(OP.REDUCE);
      if (v.items) saveItems(v.items);
    } else if (v instanceof PyPersistentId) {
      save(v.pid);
      op(OP.BINPERSID);
    } else {
      throw new TypeError(`pickle: cannot write ${describe(v)}`);
    }
  };
  // SETITEMS in batches of 1000, as CPython does, so no reader needs a huge mark.
  const saveItems = (items: ReadonlyMap<unknown, unknown>): void => {
    const all = [...items];
    for (let i = 0; i < all.length; i += 1000) {
      op(OP.MARK);
      for (const [k, val] of all.slice(i, i + 1000)) {
        save(k);
        save(val);
      }
      op(OP.SETITEMS);
    }
  };

  op(OP.PROTO);
  op(2);
  save(value);
  op(OP.STOP);
  return buf.slice(0, len);
}
