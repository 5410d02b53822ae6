/// <reference types="@webgpu/types" />
/**
 * Compiles every WGSL kernel variant (each weight type, KV type pair, op; with and without shader-f16) on this
 * runtime's navigator.gpu (Deno: wgpu/naga, the strictest WGSL front end here) and prints how many were invalid.
 * Run by test/webgpu/runtimes.test.ts.
 */
import { matmulThreadShader, matmulShader, getRowsShader } from '../../src/backend/webgpu/kernels/matmul.wgsl.ts';
import { actQuantShader } from '../../src/backend/webgpu/kernels/actquant.wgsl.ts';
import { attentionShader, kvStoreShader } from '../../src/backend/webgpu/kernels/kv.wgsl.ts';
import { elementwiseShader } from '../../src/backend/webgpu/kernels/elementwise.wgsl.ts';
import { rmsNormShader, layerNormShader, softmaxShader } from '../../src/backend/webgpu/kernels/norm.wgsl.ts';
import { ropeShader } from '../../src/backend/webgpu/kernels/rope.wgsl.ts';
const a = await (navigator as unknown as { gpu: GPU }).gpu.requestAdapter();
const d = await a!.requestDevice({ requiredFeatures: a!.features.has('shader-f16') ? ['shader-f16'] : [] });
const withF16 = a!.features.has('shader-f16');
const list: [string, string][] = [];
for (const f16 of withF16 ? [true, false] : [false]) {
  const c = { f16 };
  for (const t of [0, 1, 30, 8, 2, 3, 6, 7, 12, 13, 14]) list.push([`mmT${t}${f16}`, matmulThreadShader(c, t)], [`mm${t}${f16}`, matmulShader(c, t)], [`gr${t}${f16}`, getRowsShader(c, t)]);
  for (const t of [0, 1, 8, 2]) { list.push([`kv${t}${f16}`, kvStoreShader(c, t)]); for (const v of [0, 1, 8, 2]) list.push([`at${t}.${v}${f16}`, attentionShader(c, t, v)]); }
  list.push([`aq${f16}`, actQuantShader(c)], [`ew${f16}`, elementwiseShader(c)], [`rms${f16}`, rmsNormShader(c)], [`ln${f16}`, layerNormShader(c)], [`sm${f16}`, softmaxShader(c)], [`rope${f16}`, ropeShader(c)]);
}
let bad = 0;
for (const [n, src] of list) {
  d.pushErrorScope('validation');
  const m = d.createShaderModule({ code: src });
  d.createComputePipeline({ layout: 'auto', compute: { module: m, entryPoint: 'main' } });
  const e = await d.popErrorScope();
  if (e) { bad++; console.log(n, e.message.slice(0, 400)); }
}
console.log(JSON.stringify({ shaders: list.length, invalid: bad }));
