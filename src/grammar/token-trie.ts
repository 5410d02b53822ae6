/**
 * The vocabulary as a byte trie, flattened in preorder, so that one pass over arrays visits every token
 * prefix once and skips a whole subtree when its prefix is rejected (llama.cpp scans candidates one by one;
 * XGrammar and Outlines also walk a trie).
 *
 * Node i (0-based; the root is implicit, depth 0):
 *   byte[i]     the byte that leads from the parent to i
 *   depth[i]    1 + the parent's depth (the parent of i is the nearest node before i with depth[i] − 1)
 *   end[i]      index just past i's subtree (skip to it when the prefix dies)
 *   tokStart[i], tokStart[i+1]: the tokens whose bytes are exactly i's path are tokens[tokStart[i] .. tokStart[i+1])
 *
 * Token bytes are the tokenizer's `tokenBytes` (what generation appends to the text); tokens with no bytes
 * (control tokens) are not in the trie, and `eog` lists the end-of-generation ids.
 */
import type { Tokenizer } from '../tokenizer/index.ts';

export class TokenTrie {
  readonly nVocab: number;
  readonly nNodes: number;
  /** [n_nodes] */
  readonly byte: Uint8Array;
  /** [n_nodes] */
  readonly depth: Uint16Array;
  /** [n_nodes] */
  readonly end: Int32Array;
  /** [n_nodes + 1] offsets into `tokens`. */
  readonly tokStart: Int32Array;
  /** Token ids grouped by node. */
  readonly tokens: Int32Array;
  /** End-of-generation token ids. */
  readonly eog: Int32Array;
  /** Longest token in bytes (the walk's state stack depth). */
  readonly maxDepth: number;

  constructor(nVocab: number, tokenBytes: (id: number) => Uint8Array, isEog: (id: number) => boolean) {
    this.nVocab = nVocab;
    const ids: number[] = [];
    const eog: number[] = [];
    const all: Uint8Array[] = new Array(nVocab);
    for (let id = 0; id < nVocab; id++) {
      all[id] = tokenBytes(id);
      if (isEog(id)) eog.push(id);
      else if (all[id].length > 0) ids.push(id);
    }
    const bytesOf = (id: number) => all[id];
    this.eog = Int32Array.from(eog);
    // Sort by bytes with the engine's native string sort (no comparator: several times faster): each byte
    // b becomes the char b + 1, then U+0000 and the id, so that a prefix sorts before its extensions.
    const keys = ids.map((id) => {
      const b = all[id];
      let k = '';
      for (let i = 0; i < b.length; i++) k += String.fromCharCode(b[i] + 1);
      return `${k}\u0000${id}`;
    });
    keys.sort();
    for (let i = 0; i < keys.length; i++) ids[i] = Number(keys[i].slice(keys[i].lastIndexOf('\u0000') + 1));
    // Count nodes first: each token adds (its length − common prefix with the previous token) nodes.
    let nNodes = 0;
    let maxDepth = 0;
    let prev: Uint8Array = new Uint8Array(0);
    for (const id of ids) {
      const b = bytesOf(id);
      nNodes += b.length - commonPrefix(prev, b);
      maxDepth = Math.max(maxDepth, b.length);
      prev = b;
    }
    this.nNodes = nNodes;
    this.maxDepth = maxDepth;
    this.byte = new Uint8Array(nNodes);
    this.depth = new Uint16Array(nNodes);
    this.end = new Int32Array(nNodes);
    this.tokStart = new Int32Array(nNodes + 1);
    this.tokens = new Int32Array(ids.length);
    const path = new Int32Array(maxDepth + 1); // path[d] = node at depth d (1-based) on the current branch
    let top = 0; // nodes on the branch
    let n = 0;
    let nt = 0;
    prev = new Uint8Array(0);
    for (const id of ids) {
      const b = bytesOf(id);
      const lcp = commonPrefix(prev, b);
      while (top > lcp) this.end[path[top--]] = n;
      for (let d = lcp; d < b.length; d++) {
        this.byte[n] = b[d];
        this.depth[n] = d + 1;
        this.tokStart[n] = nt;
        path[++top] = n++;
      }
      // Sorted by bytes, a token equal to a node's path comes right after the node is made and before any
      // descendant is, so each node's tokens are the run from its tokStart to the next node's.
      this.tokens[nt++] = id;
      prev = b;
    }
    while (top > 0) this.end[path[top--]] = n;
    this.tokStart[nNodes] = nt;
  }

  /** The trie of a tokenizer's vocabulary, built once per tokenizer. */
  static of(tokenizer: Tokenizer): TokenTrie {
    let t = cache.get(tokenizer);
    if (!t) {
      t = new TokenTrie(tokenizer.vocabSize, (id) => tokenizer.tokenBytes(id), (id) => tokenizer.isEog(id));
      cache.set(tokenizer, t);
    }
    return t;
  }
}

const cache = new WeakMap<Tokenizer, TokenTrie>();

function commonPrefix(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
