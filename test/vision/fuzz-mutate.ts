/** Seeded mutations of a file for the fuzz test: random bytes, bit flips, truncation, insertions, header fields. */
export function mutate(src: Uint8Array, rnd: () => number): Uint8Array {
  const pick = (n: number) => Math.floor(rnd() * n);
  let b = src.slice();
  const kind = pick(5);
  if (kind === 0) {
    for (let k = 1 + pick(8); k > 0; k--) b[pick(b.length)] = pick(256); // random bytes
  } else if (kind === 1) {
    for (let k = 1 + pick(4); k > 0; k--) b[pick(b.length)]! ^= 1 << pick(8); // bit flips
  } else if (kind === 2) {
    b = b.slice(0, pick(b.length)); // truncation
  } else if (kind === 3) {
    const at = pick(b.length), len = 1 + pick(64); // insert random bytes
    const ins = new Uint8Array(len).map(() => pick(256));
    b = new Uint8Array([...b.subarray(0, at), ...ins, ...b.subarray(at)]);
  } else {
    const at = 8 + pick(Math.max(1, Math.min(40, b.length - 8))); // header fields
    for (let k = 0; k < 4 && at + k < b.length; k++) b[at + k] = pick(256);
  }
  return b;
}
