/**
 * ThreadPool: 2–4 threads give bit-identical results to 1 thread (every kernel's split keeps
 * the per-element arithmetic unchanged), commands see what the previous command wrote
 * (barrier), many runs back to back each run exactly once, and close() ends the workers.
 */
import { describe, expect, it } from 'vitest';
import { CommandList } from '../../src/backend/wasm/commands.ts';
import { ThreadPool, ThreadPoolError } from '../../src/backend/wasm/pool.ts';
import { Op, f32bits, loadCore, randomF32, readF32, writeF32 } from '../helpers/core.ts';

describe('ThreadPool', async () => {
  const core = await loadCore('simd');
  const n = 4097;
  const rows = 5;
  const x = writeF32(core, randomF32(n * rows, 7, -3, 3));
  const w = writeF32(core, randomF32(n, 8, 0.5, 1.5));
  const up = writeF32(core, randomF32(n * rows, 9, -1, 1));
  const [h, s, g, out] = [0, 0, 0, 0].map(() => core.alloc(n * rows * 4));

  /** A small chain: each command reads the previous one's output. */
  const chain = new CommandList(core, 8);
  chain.push(Op.RMSNORM, x, w, h, n, rows, f32bits(1e-5));
  chain.push(Op.SOFTMAX, h, s, n, rows, f32bits(0.5));
  chain.push(Op.SCALE, s, s, n * rows, f32bits(n));
  chain.push(Op.SWIGLU, s, up, g, n * rows);
  chain.push(Op.ADD, g, h, out, n * rows);
  chain.push(Op.GELU, out, out, n * rows);

  const reference = async (): Promise<Float32Array> => {
    core.f32(out, n * rows).fill(NaN);
    core.run(chain);
    return readF32(core, out, n * rows);
  };

  it('2, 3 and 4 threads match 1 thread bit for bit', async () => {
    const want = await reference();
    expect(want.every(Number.isFinite)).toBe(true);
    for (const threads of [2, 3, 4]) {
      const pool = await ThreadPool.create(core, threads);
      expect(pool.nThreads).toBe(threads);
      core.f32(out, n * rows).fill(NaN);
      pool.run(chain);
      expect(readF32(core, out, n * rows), `${threads} threads`).toEqual(want);
      await pool.close();
    }
  });

  it('500 runs back to back each run exactly once on every thread', async () => {
    const pool = await ThreadPool.create(core, 3);
    const m = 1000; // elements spread over all 3 threads
    const acc = writeF32(core, new Float32Array(m));
    const one = writeF32(core, new Float32Array(m).fill(1));
    const list = new CommandList(core, 2);
    list.push(Op.ADD, acc, one, acc, m);
    list.push(Op.SCALE, acc, acc, m, f32bits(1)); // a second command: a barrier between them
    for (let r = 0; r < 500; r++) pool.run(list);
    expect(readF32(core, acc, m).every((v) => v === 500)).toBe(true);
    await pool.close();
  });

  it('an empty list returns at once; close() is idempotent and run() after it throws', async () => {
    const pool = await ThreadPool.create(core, 2);
    pool.run(new CommandList(core, 1));
    await pool.close();
    await pool.close();
    expect(() => pool.run(chain)).toThrow(ThreadPoolError);
  });

  it('consecutive ROPEs skip the barrier only when independent (graph.rs): same bits as one list per command', async () => {
    // [n_tok 3][n_head 4][head_dim 64]; q and k roped in place (independent: no barrier), then
    // a rope that reads the first one's output (dependent: barrier kept).
    const [nTok, nHead, hd] = [3, 4, 64];
    const len = nTok * nHead * hd;
    const pos = core.alloc(nTok * 4);
    core.i32(pos, nTok).set([5, 6, 900]);
    const src = [randomF32(len, 31, -1, 1), randomF32(len, 32, -1, 1)];
    const [q, k, z] = [core.alloc(len * 4), core.alloc(len * 4), core.alloc(len * 4)];
    const push = (l: CommandList, i: number) => {
      const [xin, xout] = [[q, q], [k, k], [q, z]][i];
      l.push(Op.ROPE, xin, xout, pos, nTok, nHead, hd, hd, 0, f32bits(10000), f32bits(1), 0);
    };
    const runAll = (pool: ThreadPool, oneList: boolean): Float32Array[] => {
      core.f32(q, len).set(src[0]);
      core.f32(k, len).set(src[1]);
      core.f32(z, len).fill(NaN);
      const l = new CommandList(core, 3);
      for (let i = 0; i < 3; i++) {
        if (!oneList) l.reset();
        push(l, i);
        if (!oneList) pool.run(l);
      }
      if (oneList) pool.run(l);
      return [q, k, z].map((p) => readF32(core, p, len));
    };
    const pool = await ThreadPool.create(core, 2);
    const want = runAll(pool, false);
    expect(want[2].every(Number.isFinite)).toBe(true);
    expect(want[2]).not.toEqual(want[0]); // roped twice
    for (let r = 0; r < 20; r++) expect(runAll(pool, true)).toEqual(want);
    await pool.close();
  });

  it('1 thread runs on the main thread without workers', async () => {
    const want = await reference();
    const pool = await ThreadPool.create(core, 1);
    core.f32(out, n * rows).fill(NaN);
    pool.run(chain);
    expect(readF32(core, out, n * rows)).toEqual(want);
    await pool.close();
  });
});
