// The restricted unpickler and the pickler (src/io/pickle.ts). The hex pickles below were made by
// CPython's pickle.dumps; the hostile ones by a class whose __reduce__ returns os.system / eval.
import { describe, expect, it } from 'vitest';
import { CheckpointFormatError, UnsafePickleError } from '../../src/io/errors.ts';
import { PyCallable, PyGlobal, PyReduce, pickle, pyTuple, unpickle, type UnpickleHooks } from '../../src/io/pickle.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g)!, (b) => parseInt(b, 16));

/** Allows nothing: any global is refused, any persistent id is an error. */
const denyAll: UnpickleHooks = {
  global(module, name) {
    throw new UnsafePickleError(`the Python global ${module}.${name}`, 'GLOBAL');
  },
  persistentLoad() {
    throw new CheckpointFormatError('pickle', 'no persistent ids here');
  },
};

// {'a': [1, -2, 2.5, 'xé中', None, True, False, (1, 2), (), (1, 2, 3, 4)], 'b': 2**70, 'c': -(2**40),
//  'd': {'n': 65535, 'm': -129}}  (+ 'e': b'\x00\x01' in the protocol 4 one)
const PY_PROTO2 =
  '80027d71002858010000006171015d7102284b014afeffffff474004000000000000580600000078c3a9e4b8ad71034e88894b014b0286710429284b014b024b034b047471056558010000006271068a0900000000000000004058010000006371078a060000000000ff58010000006471087d71092858010000006e710a4dffff58010000006d710b4a7fffffff75752e';
const PY_PROTO4 =
  '80049577000000000000007d94288c0161945d94284b014afeffffff4740040000000000008c0678c3a9e4b8ad944e88894b014b02869429284b014b024b034b047494658c0162948a090000000000000000408c0163948a060000000000ff8c0164947d94288c016e944dffff8c016d944a7fffffff758c0165944302000194752e';
const EXPECTED = new Map<unknown, unknown>([
  ['a', [1, -2, 2.5, 'xé中', null, true, false, [1, 2], [], [1, 2, 3, 4]]],
  ['b', 2n ** 70n],
  ['c', -(2 ** 40)],
  ['d', new Map([['n', 65535], ['m', -129]])],
]);

// pickle.dumps(Evil(), protocol=N) where Evil.__reduce__ returns (os.system, ('echo pwned',)) or (eval, ('1+1',)).
const OS_SYSTEM_PROTO2 = '800263706f7369780a73797374656d0a7100580a0000006563686f2070776e656471018571025271032e';
const OS_SYSTEM_PROTO4 = '80049525000000000000008c05706f736978948c0673797374656d9493948c0a6563686f2070776e656494859452942e';
const EVAL_PROTO2 = '8002635f5f6275696c74696e5f5f0a6576616c0a71005803000000312b3171018571025271032e';

describe('unpickle', () => {
  it('reads CPython protocol 2 and protocol 4 pickles of plain data', () => {
    expect(unpickle(hex(PY_PROTO2), denyAll)).toEqual(EXPECTED);
    const p4 = unpickle(hex(PY_PROTO4), denyAll) as Map<unknown, unknown>;
    expect(p4.get('e')).toEqual(new Uint8Array([0, 1]));
    p4.delete('e');
    expect(p4).toEqual(EXPECTED);
  });

  it('gives tuples as frozen arrays and lists as plain arrays', () => {
    const a = (unpickle(hex(PY_PROTO2), denyAll) as Map<string, unknown[]>).get('a')!;
    expect(Object.isFrozen(a)).toBe(false);
    expect(Object.isFrozen(a[7])).toBe(true);
  });

  it.each([
    ['os.system (protocol 2, as posix.system)', OS_SYSTEM_PROTO2, 'posix.system'],
    ['os.system (protocol 4, STACK_GLOBAL)', OS_SYSTEM_PROTO4, 'posix.system'],
    ['builtins.eval (protocol 2, as __builtin__.eval)', EVAL_PROTO2, '__builtin__.eval'],
  ])('refuses %s at the GLOBAL, naming it', (_, pkl, named) => {
    const err = catchError(() => unpickle(hex(pkl), denyAll));
    expect(err).toBeInstanceOf(UnsafePickleError);
    expect(err.message).toContain(named);
    expect(err.message).toContain('Nothing was executed');
  });

  it('refuses REDUCE of a global that is allowed but is not a callable', () => {
    const storage = new PyGlobal('torch', 'FloatStorage');
    const hooks: UnpickleHooks = { ...denyAll, global: () => storage };
    const bytes = pickle(new PyReduce(storage, [3]));
    const err = catchError(() => unpickle(bytes, hooks));
    expect(err).toBeInstanceOf(UnsafePickleError);
    expect(err.message).toContain('a call to torch.FloatStorage');
  });

  it('calls only the PyCallable the hooks hand out, with the pickled arguments', () => {
    const calls: unknown[] = [];
    const fn = new PyCallable('my', 'fn', (args) => (calls.push(args), 'built'));
    const out = unpickle(pickle([new PyReduce(fn, ['x', 2])]), { ...denyAll, global: () => fn });
    expect(out).toEqual(['built']);
    expect(calls).toEqual([['x', 2]]);
  });

  it.each([
    // cos\nsystem\n ) NEWOBJ .  -> object.__new__ of an arbitrary class
    ['NEWOBJ', '8002636f730a73797374656d0a29812e', UnsafePickleError],
    // INST builds an arbitrary class instance (protocol 0)
    ['INST', '28696f730a73797374656d0a2e', UnsafePickleError],
    // [] ( ) BUILD: setting state on a list
    ['BUILD on a list', '80025d7d622e', UnsafePickleError],
    // () K1 APPEND: appending to a tuple
    ['APPEND to a tuple', '8002294b01612e', UnsafePickleError],
    ['unknown opcode', '8002ff2e', CheckpointFormatError],
    ['a truncated string', '800258ffffff7f61612e', CheckpointFormatError],
    ['a missing STOP', '80024b01', CheckpointFormatError],
    ['stack underflow', '8002522e', CheckpointFormatError],
    ['a BINGET of an empty memo slot', '800268052e', CheckpointFormatError],
    ['POP through a MARK', '80024b0128302e', CheckpointFormatError],
    ['a huge LONG4', '80028bffffff00' + '00'.repeat(8) + '2e', CheckpointFormatError],
  ])('refuses %s with a typed error', (_, pkl, type) => {
    const fakeGlobal = new PyGlobal('os', 'system');
    const err = catchError(() => unpickle(hex(pkl), { ...denyAll, global: () => fakeGlobal }));
    expect(err).toBeInstanceOf(type);
  });
});

describe('pickle', () => {
  it('round-trips plain values through unpickle', () => {
    const value = new Map<unknown, unknown>([
      ['ints', [0, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31, 2 ** 53 - 1, -(2 ** 53) + 1, 2n ** 64n, -(2n ** 63n)]],
      ['floats', [0.5, -1e-300, Infinity]],
      ['text', ['', 'ascii', 'ünï中😀']],
      ['tuples', pyTuple(pyTuple(), pyTuple(1), pyTuple(1, 2), pyTuple(1, 2, 3), pyTuple(1, 2, 3, 4))],
      ['misc', [null, true, false, [], new Map()]],
    ]);
    expect(unpickle(pickle(value), denyAll)).toEqual(value);
  });

  it('writes SETITEMS in batches so large dicts stay readable', () => {
    const big = new Map(Array.from({ length: 2500 }, (_, i) => [`k${i}`, i]));
    expect(unpickle(pickle(big), denyAll)).toEqual(big);
  });

  it('writes each global once and reuses it from the memo', () => {
    const g = new PyGlobal('collections', 'OrderedDict');
    const bytes = pickle([g, g, g]);
    expect(new TextDecoder().decode(bytes).split('OrderedDict').length - 1).toBe(1);
    expect(unpickle(bytes, { ...denyAll, global: () => g })).toEqual([g, g, g]);
  });
});

function catchError(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}
