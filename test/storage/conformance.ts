/**
 * One behaviour suite for every Storage driver (memory, fs, redis): run it with a factory that opens a fresh,
 * empty store with a given byte budget.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { StorageClosedError, StorageKeyError, StorageTooLargeError, StorageValueError } from '../../src/storage/errors.ts';
import { encodeSafetensors } from '../../src/storage/safetensors.ts';
import type { Storage, StoredValue } from '../../src/storage/types.ts';
import { everyDtype, kvPage } from './values.ts';

export interface StorageFactory {
  /** A fresh, empty store. */
  open(budgetBytes: number): Promise<Storage>;
}

/** Bytes a value takes in any driver: its safetensors file (checked against real file sizes in fs.test.ts). */
export const sizeOf = (v: StoredValue) => encodeSafetensors(v).length;

function expectSameValue(got: StoredValue | null, want: StoredValue): void {
  expect(got).not.toBeNull();
  expect(got!.meta).toEqual(want.meta);
  expect(got!.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual(want.tensors.map((t) => [t.name, t.dtype, t.shape]));
  for (let i = 0; i < want.tensors.length; i++) expect(Buffer.from(got!.tensors[i].bytes).equals(Buffer.from(want.tensors[i].bytes))).toBe(true);
}

export function storageConformance(driver: string, factory: StorageFactory): void {
  describe(`storage conformance: ${driver}`, () => {
    const open: Storage[] = [];
    const fresh = async (budget = 0) => {
      const s = await factory.open(budget);
      open.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close();
    });

    it('round-trips tensors of every dtype with their metadata', async () => {
      const s = await fresh();
      expect(s.name).toBe(driver);
      const v = everyDtype(11);
      await s.put('img/abc/0', v);
      expectSameValue(await s.get('img/abc/0'), v);
      const p = kvPage(5);
      await s.put('kv/m/c1', p);
      expectSameValue(await s.get('kv/m/c1'), p);
    });

    it('stores values with no tensors and with empty tensors', async () => {
      const s = await fresh();
      const empty: StoredValue = { tensors: [], meta: {} };
      await s.put('tune/x', empty);
      expectSameValue(await s.get('tune/x'), empty);
      const zero: StoredValue = { tensors: [{ name: 'z', dtype: 'F32', shape: [0, 4], bytes: new Uint8Array(0) }], meta: { a: 'b' } };
      await s.put('tune/y', zero);
      expectSameValue(await s.get('tune/y'), zero);
    });

    it('get/has/delete of absent keys', async () => {
      const s = await fresh();
      expect(await s.get('kv/none')).toBeNull();
      expect(await s.has('kv/none')).toBe(false);
      expect(await s.delete('kv/none')).toBe(false);
      await s.put('kv/one', kvPage(1));
      expect(await s.has('kv/one')).toBe(true);
      expect(await s.delete('kv/one')).toBe(true);
      expect(await s.has('kv/one')).toBe(false);
      expect(await s.get('kv/one')).toBeNull();
      expect(await s.usedBytes()).toBe(0);
    });

    it('put replaces a value and its byte count', async () => {
      const s = await fresh();
      const a = kvPage(1, 4);
      const b = kvPage(2, 16);
      await s.put('kv/k', a);
      expect(await s.usedBytes()).toBe(sizeOf(a));
      await s.put('kv/k', b);
      expectSameValue(await s.get('kv/k'), b);
      expect(await s.usedBytes()).toBe(sizeOf(b));
      expect(await s.list('')).toEqual(['kv/k']);
    });

    it('lists by prefix, including prefixes that end inside a segment', async () => {
      const s = await fresh();
      const keys = ['a/b/1', 'a/b/2', 'a/c', 'ab', 'b/a'];
      for (const [i, k] of keys.entries()) await s.put(k, kvPage(i));
      const sorted = async (p: string) => (await s.list(p)).sort();
      expect(await sorted('')).toEqual(keys.slice().sort());
      expect(await sorted('a/')).toEqual(['a/b/1', 'a/b/2', 'a/c']);
      expect(await sorted('a/b/')).toEqual(['a/b/1', 'a/b/2']);
      expect(await sorted('a')).toEqual(['a/b/1', 'a/b/2', 'a/c', 'ab']);
      expect(await sorted('a/b/1')).toEqual(['a/b/1']);
      expect(await sorted('zzz')).toEqual([]);
    });

    it('counts usedBytes as the sum of the stored values', async () => {
      const s = await fresh();
      let total = 0;
      for (let i = 0; i < 5; i++) {
        const v = kvPage(i, 1 + i);
        total += sizeOf(v);
        await s.put(`kv/d/${i}`, v);
      }
      expect(await s.usedBytes()).toBe(total);
      await s.delete('kv/d/2');
      expect(await s.usedBytes()).toBe(total - sizeOf(kvPage(2, 3)));
    });

    it('evicts least-recently-used values to stay within the budget', async () => {
      const one = sizeOf(kvPage(0));
      const budget = 3 * one + Math.floor(one / 2); // room for three pages of this size
      const s = await fresh(budget);
      expect(s.budgetBytes).toBe(budget);
      for (let i = 1; i <= 3; i++) await s.put(`kv/p/${i}`, kvPage(i));
      expect((await s.list('kv/')).sort()).toEqual(['kv/p/1', 'kv/p/2', 'kv/p/3']);
      expect(await s.get('kv/p/1')).not.toBeNull(); // now 2 is the least recently used
      await s.put('kv/p/4', kvPage(4));
      expect((await s.list('kv/')).sort()).toEqual(['kv/p/1', 'kv/p/3', 'kv/p/4']);
      expect(await s.has('kv/p/2')).toBe(false);
      expect(await s.usedBytes()).toBe(3 * one);
      await s.put('kv/p/5', kvPage(5)); // 3 is now the oldest
      expect((await s.list('kv/')).sort()).toEqual(['kv/p/1', 'kv/p/4', 'kv/p/5']);
      expect(await s.usedBytes()).toBeLessThanOrEqual(s.budgetBytes);
    });

    it('rejects a value larger than the whole budget, and keeps what it has', async () => {
      const s = await fresh(sizeOf(kvPage(0)) * 2);
      await s.put('kv/small', kvPage(0));
      const big = kvPage(1, 64);
      await expect(s.put('kv/big', big)).rejects.toBeInstanceOf(StorageTooLargeError);
      expect(await s.has('kv/big')).toBe(false);
      expect(await s.has('kv/small')).toBe(true);
    });

    it('copies: changing the caller\'s arrays after put, or the returned ones, changes nothing stored', async () => {
      const s = await fresh();
      const v = kvPage(3);
      const orig = Buffer.from(v.tensors[0].bytes);
      await s.put('kv/c', v);
      v.tensors[0].bytes.fill(0);
      const got = await s.get('kv/c');
      expect(Buffer.from(got!.tensors[0].bytes).equals(orig)).toBe(true);
      got!.tensors[0].bytes.fill(1);
      expect(Buffer.from((await s.get('kv/c'))!.tensors[0].bytes).equals(orig)).toBe(true);
    });

    it('handles concurrent puts and gets', async () => {
      const s = await fresh();
      const vals = Array.from({ length: 16 }, (_, i) => kvPage(100 + i, 1 + (i % 5)));
      await Promise.all(vals.map((v, i) => s.put(`kv/par/${i}`, v)));
      const got = await Promise.all(vals.map((_, i) => s.get(`kv/par/${i}`)));
      got.forEach((g, i) => expectSameValue(g, vals[i]));
      expect(await s.usedBytes()).toBe(vals.reduce((a, v) => a + sizeOf(v), 0));
    });

    it('rejects malformed keys and prefixes with StorageKeyError', async () => {
      const s = await fresh();
      const bad = ['', '/a', 'a/', 'a//b', '..', '../x', 'a/../b', 'a/./b', '.hidden', 'a/.x', 'a b', 'a\\b', 'a*', 'é', 'x.safetensors', 'a/b.safetensors/c', 'a'.repeat(513), `${'s'.repeat(201)}`];
      for (const k of bad) {
        await expect(s.get(k), k).rejects.toBeInstanceOf(StorageKeyError);
        await expect(s.put(k, kvPage(0)), k).rejects.toBeInstanceOf(StorageKeyError);
        await expect(s.has(k), k).rejects.toBeInstanceOf(StorageKeyError);
        await expect(s.delete(k), k).rejects.toBeInstanceOf(StorageKeyError);
      }
      for (const p of ['a*', 'a b', 'a?', '[x]', 'é']) await expect(s.list(p), p).rejects.toBeInstanceOf(StorageKeyError);
      expect(await s.list('')).toEqual([]);
      // Keys at the edges of the grammar are fine.
      for (const k of ['a', 'A-Z_0.9', 'x.safetensors.bak', `${'s'.repeat(200)}`]) {
        await s.put(k, kvPage(1));
        expect(await s.has(k), k).toBe(true);
      }
    });

    it('rejects malformed values with StorageValueError', async () => {
      const s = await fresh();
      const t = (o: object) => ({ tensors: [{ name: 'x', dtype: 'F32', shape: [2], bytes: new Uint8Array(8), ...o }], meta: {} }) as unknown as StoredValue;
      const bad: [string, StoredValue][] = [
        ['byte length ≠ shape', t({ bytes: new Uint8Array(7) })],
        ['unknown dtype', t({ dtype: 'F64' })],
        ['negative dim', t({ shape: [-2] })],
        ['fractional dim', t({ shape: [1.5] })],
        ['reserved name', t({ name: '__metadata__' })],
        ['empty name', t({ name: '' })],
        ['duplicate names', { tensors: [t({}).tensors[0], t({}).tensors[0]], meta: {} }],
        ['reserved meta key', { tensors: [], meta: { tessera_sha256: 'x' } }],
        ['non-string meta', { tensors: [], meta: { n: 1 as unknown as string } }],
      ];
      for (const [why, v] of bad) await expect(s.put('kv/bad', v), why).rejects.toBeInstanceOf(StorageValueError);
      expect(await s.has('kv/bad')).toBe(false);
    });

    it('refuses calls after close with StorageClosedError', async () => {
      const s = await factory.open(0);
      await s.put('kv/x', kvPage(1));
      await s.close();
      await expect(s.get('kv/x')).rejects.toBeInstanceOf(StorageClosedError);
      await expect(s.put('kv/y', kvPage(1))).rejects.toBeInstanceOf(StorageClosedError);
    });
  });
}
