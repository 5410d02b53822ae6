/**
 * The library API: load a GGUF model, generate text, chat.
 *
 * ```ts
 * const engine = await createEngine({ model: 'model.gguf', threads: 2 });
 * for await (const { text } of engine.generate({ prompt: 'Once upon a time', options: { num_predict: 32 } })) {
 *   process.stdout.write(text);
 * }
 * await engine.close();
 * ```
 */
import type { Backend } from './backend/backend.ts';
import { BatchScheduler, type SchedulerStats, type Slot } from './batch/scheduler.ts';
import { ShardedBackend } from './backend/sharded/backend.ts';
import { defaultThreads } from './backend/wasm/backend.ts';
import { stat } from 'node:fs/promises';
import { TesseraError, ValidationError } from './errors.ts';
import { openGguf, type GgufFile } from './gguf/reader.ts';
import type { GrammarAutomaton } from './grammar/automaton.ts';
import { GrammarConstraint } from './grammar/constraint.ts';
import { structuredOutput, type OutputFormat } from './grammar/structured.ts';
import { parseToolCalls, type ToolCall, type ToolChoice, type ToolDefinition } from './grammar/tools.ts';
import { GgmlType } from './gguf/types.ts';
import { DEFAULT_PAGE_SIZE, KvCacheFullError } from './kv/cache.ts';
import { planMemory } from './model/memory-plan.ts';
import { kvTypeId, parseKvType, resolveKvTypes, type KvTypeName, type KvTypes } from './kv/kv-type.ts';
import { KvManager, type KvSequence, type KvStats } from './kv/manager.ts';
import { modelDigest } from './kv/model-digest.ts';
import type { Storage } from './storage/types.ts';
import { hardwareReport, type HardwareReport } from './hardware/report.ts';
import { openBackend, parseBackendRequest, type BackendInfo, type BackendRequest } from './hardware/select.ts';
import { tuneForModel } from './hardware/tune-model.ts';
import { loadModel, SUPPORTED_ARCHITECTURES, type Model } from './model/model.ts';
import { resolveOptions, type GenerateOptions, type ResolvedOptions } from './sampling/options.ts';
import { TopLogprobs, topLogprobs } from './sampling/logprobs.ts';
import { Sampler } from './sampling/sampler.ts';
import { StopMatcher } from './sampling/stop.ts';
import { Utf8Stream } from './sampling/utf8.ts';
import { renderChat } from './tokenizer/chat-template.ts';
import { createTokenizer, type Tokenizer } from './tokenizer/index.ts';
import { EngineVision, IMAGE_MARKER, type ImagePrompt, type PromptImageBlock, type VisionOptions } from './engine-images.ts';
import type { LlamaModel } from './model/llama.ts';

export interface EngineOptions {
  /** Path to a GGUF file. */
  model: string;
  /** Worker threads; default: the number of cores. */
  threads?: number;
  /**
   * Backend (default 'auto': chosen from the detected hardware and the model's size, src/hardware/select.ts).
   * An explicit kind that cannot run here throws BackendUnavailableError; `engine.backendInfo` says what runs and why.
   */
  backend?: BackendRequest;
  /**
   * MATMUL split autotuning at load (src/hardware/tune.ts; default on). Budget default: 2 ms per MiB of model,
   * 50..2000 ms. Winners are stored in `storage` (default: a process-wide memory storage) and reused.
   */
  tune?: boolean | { budgetMs?: number; storage?: Storage | null; force?: boolean };
  /** A hardware report to select from instead of detecting (tests); default: `hardwareReport()`. */
  hardware?: HardwareReport;
  /** Context length reserved at load (default: min(2048, the model's training context)). */
  numCtx?: number;
  /** Largest prompt chunk evaluated in one forward (default 512). */
  numBatch?: number;
  /** KV cache element type of K and V (default 'f16'); `kvTypeK`/`kvTypeV` set each. Requests may override (options kv_type, kv_type_k, kv_type_v). */
  kvType?: KvTypeName;
  kvTypeK?: KvTypeName;
  kvTypeV?: KvTypeName;
  /** Tokens per KV page, 16..256 (default DEFAULT_PAGE_SIZE = 16: src/kv/cache.ts, bench/kv.ts pagesize and chat). */
  kvPageSize?: number;
  /** Byte budget of hot KV pages in WASM memory, per K/V type pair (default: two full contexts). */
  kvHotBytes?: number;
  /** Byte budget of KV pages kept in host memory when demoted (default 256 MiB). */
  kvHostBytes?: number;
  /** Storage for the prefix cache (full pages written behind; survives the process). Default none. */
  kvStorage?: Storage | null;
  /** Rows of logits kept per forward: 1 for generation; more lets `evaluate` score every prompt position. */
  logitRows?: number;
  /** WASM variant override (tests/benchmarks); default: chosen by a known-answer test. */
  wasmVariant?: 'auto' | 'simd' | 'relaxed';
  /**
   * Most bytes one WASM instance may hold (default and maximum: 4 GiB, wasm32's limit). A model that needs more
   * is split by layer over several instances (ShardedBackend); smaller values force that (tests).
   */
  maxShardBytes?: number;
  /** Bytes the model may use in all (default: the system's free memory). A model that needs more is refused before loading. */
  memoryLimitBytes?: number;
  /**
   * Generations decoded together (continuous batching, src/batch/scheduler.ts); more wait for a slot.
   * Default: env TESSERA_NUM_PARALLEL, else 4. KV pages are shared by all of them (kvHotBytes).
   */
  numParallel?: number;
  /** Path to the model's projector (a llama.cpp mmproj GGUF): requests may then carry images (src/engine-images.ts). */
  projector?: string;
  /** The image cache of a model with a projector: storage (default memory), off (`cache: false`), blocks per image. */
  imageCache?: Omit<VisionOptions, 'projector'>;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | string;
  content: string;
  /** Encoded images (PNG, JPEG, WebP, GIF) shown with this message, put before its text (needs a projector). */
  images?: Uint8Array[];
}

export interface GenerateRequest {
  /** Text, or token ids (taken as they are). */
  prompt: string | number[];
  /** Skip the chat template (Ollama's `raw`). Without it, a text prompt is wrapped as one user turn when the model has a template. */
  raw?: boolean;
  system?: string;
  options?: GenerateOptions;
  signal?: AbortSignal;
  /** Report log-probabilities of the chosen tokens with this many most likely alternatives (0..20); omit for none. */
  logprobs?: number;
  /** Structured output: "json" (any JSON object) or a JSON Schema; sampling is constrained to it (src/grammar). */
  format?: OutputFormat | '' | null;
  /** Tools the model may call; with toolChoice "auto" it answers text or one call (see src/grammar/tools.ts). */
  tools?: ToolDefinition[] | null;
  /** "auto" (default), "required" (always a call) or "none" (tools only shown to the template). */
  toolChoice?: ToolChoice | null;
  /**
   * Encoded images (needs a projector). A text prompt with IMAGE_MARKER ('<__media__>') gets them there, in order;
   * else they go before the prompt's text.
   */
  images?: Uint8Array[];
  /** Tags the image cache entries this request makes or uses (default 'default'). */
  session?: string;
}

export interface ChatRequest {
  messages: ChatMessage[];
  options?: GenerateOptions;
  signal?: AbortSignal;
  /** As GenerateRequest.logprobs. */
  logprobs?: number;
  format?: OutputFormat | '' | null;
  /** Also passed to the chat template as `tools`. */
  tools?: ToolDefinition[] | null;
  toolChoice?: ToolChoice | null;
  /** As GenerateRequest.session. */
  session?: string;
}

/** log p of a token under softmax(raw logits) (see sampling/logprobs.ts), with the most likely alternatives. */
export interface TokenLogprob {
  token: number;
  logprob: number;
  top: { token: number; logprob: number }[];
}

export interface GenerateChunk {
  /** Text completed by this token (may be empty while a multi-byte character or a possible stop string is pending). */
  text: string;
  token: number;
  /** With `logprobs` requested: one entry per token sampled since the previous chunk (held text included). */
  logprobs?: TokenLogprob[];
}

export type DoneReason = 'stop' | 'length' | 'abort';

/** Timings in nanoseconds, as Ollama reports them. */
export interface GenerateStats {
  promptTokens: number;
  /** Prompt tokens served from the KV cache instead of evaluated. */
  cachedTokens: number;
  promptEvalNs: number;
  evalCount: number;
  evalNs: number;
  totalNs: number;
}

/** An async iterable of chunks; `doneReason` and `stats` are set when it finishes. */
export interface Generation extends AsyncIterable<GenerateChunk> {
  doneReason: DoneReason | null;
  stats: GenerateStats | null;
  /**
   * With tools: the call the model made (its JSON envelope was also streamed as text), or null when it
   * answered in text (or was cut off mid-call). Set when the iteration finishes; always null without tools.
   */
  toolCalls: ToolCall[] | null;
  /** With images: where each image block went in the prompt, and whether the image cache held each image (set before the first chunk). */
  images?: { blocks: PromptImageBlock[]; cached: boolean[]; encodeNs: number; promptTokens: number };
}

export interface ModelInfo {
  path: string;
  architecture: string;
  nVocab: number;
  nCtx: number;
  nCtxTrain: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  fileType: string;
  /** Bytes of backend memory: weights + activations + KV cache. */
  memoryBytes: number;
  kvBytes: number;
  backend: string;
  threads: number;
  /** WASM instances the model is spread over (1 unless it needs more than one instance holds). */
  shards: number;
  chatTemplate: string | null;
  /** The projector type ('gemma3', 'mlp', 'qwen2.5vl_merger', 'pixtral') when the model takes images, else null. */
  vision: string | null;
}

export class EngineClosedError extends TesseraError {
  constructor() {
    super('engine_closed', 'the engine was closed');
  }
}

/** Architectures whose loader places layers by `Backend.group` (src/model/llama.ts), so they can be sharded. */
const SHARDABLE = new Set(['llama', 'mistral', 'mistral3', 'qwen2', 'qwen3', 'phi3', 'gemma2', 'gemma3']);

/** Monotonic clock in nanoseconds. */
const now = () => Math.round(performance.now() * 1e6);

export class Engine {
  private busy: Promise<void> = Promise.resolve();
  private closed = false;
  /** Runs the generations (null for encoder models). */
  private readonly sched: BatchScheduler | null;
  /** The projector and image cache (null: text only). */
  vision: EngineVision | null = null;

  private constructor(
    readonly info: ModelInfo,
    readonly tokenizer: Tokenizer,
    private readonly model: Model,
    private readonly backend: Backend,
    /** The KV cache's manager side (null for encoder models). */
    private readonly kvm: KvManager | null,
    numParallel: number,
    /** Which backend runs the model and why: the detected facts, the candidates' verdicts, the tuning result. */
    readonly backendInfo: BackendInfo,
  ) {
    this.sched = kvm ? new BatchScheduler(model, kvm, () => this.acquire(), numParallel, info.nVocab, () => new EngineClosedError()) : null;
  }

  static async create(opts: EngineOptions): Promise<Engine> {
    if (typeof opts?.model !== 'string' || opts.model === '') throw new ValidationError("createEngine: 'model' must be a path to a GGUF file");
    if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads >= 1 && opts.threads <= 256)) {
      throw new ValidationError(`createEngine: 'threads' must be an integer in 1..256, got ${opts.threads}`);
    }
    const backendRequest = parseBackendRequest(opts.backend, 'createEngine');
    for (const k of ['maxShardBytes', 'memoryLimitBytes'] as const) {
      const v = opts[k];
      if (v !== undefined && !(Number.isSafeInteger(v) && v > 0)) throw new ValidationError(`createEngine: '${k}' must be a positive integer number of bytes, got ${v}`);
    }
    const file = await openGguf(opts.model);
    const tokenizer = createTokenizer(file.metadata, { path: file.path });
    const arch = file.metadata.get('general.architecture');
    const nCtxTrain = Number(file.metadata.get(`${arch}.context_length`) ?? 2048);
    const nCtx = opts.numCtx ?? Math.min(2048, nCtxTrain);
    if (!Number.isInteger(nCtx) || nCtx < 1) throw new ValidationError(`createEngine: numCtx must be a positive integer, got ${nCtx}`);
    const numParallel = opts.numParallel ?? defaultNumParallel();
    if (!(Number.isInteger(numParallel) && numParallel >= 1 && numParallel <= 64)) throw new ValidationError(`createEngine: numParallel must be an integer in 1..64, got ${numParallel}`);
    const loadOpts = { nCtx, maxTokens: opts.numBatch ?? 512, logitRows: opts.logitRows, kvType: opts.kvType === 'f32' ? GgmlType.F32 : GgmlType.F16 };
    // Refuse what cannot fit, and choose the instances, before allocating anything.
    const threads = Math.max(1, opts.threads ?? defaultThreads());
    const plan =
      typeof arch === 'string' && SUPPORTED_ARCHITECTURES.includes(arch)
        ? planMemory(file, { ...loadOpts, threads, maxShardBytes: opts.maxShardBytes, availableBytes: opts.memoryLimitBytes, canShard: SHARDABLE.has(arch) })
        : null;
    const hw = opts.hardware ?? (await hardwareReport());
    const modelBytes = plan?.totalBytes ?? (await stat(file.path)).size;
    const { backend: be, info: backendInfo } = await openBackend(backendRequest, hw, {
      threads, modelBytes, wasmVariant: opts.wasmVariant, weightTypes: file.tensors.filter((t) => t.dims.length >= 2).map((t) => t.type), shards: plan && plan.shards > 1 ? { shards: plan.shards, layerShard: plan.layerShard } : undefined,
    });
    try {
      const kt = parseKvType(opts.kvTypeK ?? opts.kvType ?? 'f16', 'kvTypeK');
      const vt = parseKvType(opts.kvTypeV ?? opts.kvType ?? 'f16', 'kvTypeV');
      const ps = opts.kvPageSize ?? DEFAULT_PAGE_SIZE;
      if (!Number.isInteger(ps) || ps < 16 || ps > 256) throw new ValidationError(`createEngine: kvPageSize must be an integer in 16..256, got ${ps}`);
      for (const [k, v] of [['kvHotBytes', opts.kvHotBytes], ['kvHostBytes', opts.kvHostBytes]] as const) {
        if (v !== undefined && !(Number.isSafeInteger(v) && v >= 0)) throw new ValidationError(`createEngine: ${k} must be a non-negative integer, got ${v}`);
      }
      const model = await loadModel(file, be, { ...loadOpts, kvType: kvTypeId(kt), vType: kvTypeId(vt), kvPageSize: ps, kvHotBytes: opts.kvHotBytes, kvHotContexts: 2, maxSeqs: numParallel });
      const kvm = model.pooling
        ? null
        : !(be as Backend).copyPageBytes // copyPageBytes: pages the host cannot see (webgpu) stay in backend memory: no host tier, no storage
          ? new KvManager(model.kv, { modelDigest: await modelDigest(file.path), hostBytes: opts.kvHostBytes ?? 256 << 20, storage: opts.kvStorage ?? null })
          : new KvManager(model.kv, { modelDigest: await modelDigest(file.path), hostBytes: 0, storage: null });
      backendInfo.tuning = await tuneForModel(be, file, model, hw, loadOpts.maxTokens, modelBytes, opts.tune);
      const engine = new Engine(describe(file, model, be, nCtx), tokenizer, model, be, kvm, numParallel, backendInfo);
      if (opts.projector !== undefined) {
        if (typeof opts.projector !== 'string' || !opts.projector) throw new ValidationError("createEngine: 'projector' must be a path to an mmproj GGUF file");
        if (!kvm || !(model as LlamaModel).enableEmbeddingInput || be instanceof ShardedBackend) throw new ValidationError(`createEngine: a projector needs a generative ${SUPPORTED_ARCHITECTURES.join('/')} model in one instance`);
        engine.vision = await EngineVision.load({ ...opts.imageCache, projector: opts.projector }, be, model as LlamaModel, tokenizer, (fn) => engine.exclusive(fn));
        engine.info.vision = engine.vision.projector;
      }
      return engine;
    } catch (e) {
      await be.close();
      throw e;
    }
  }

  /**
   * Embeddings of `texts` from an encoder model (BERT): each text is tokenized with its special tokens
   * ([CLS] … [SEP]), encoded alone, pooled as the file says (mean or [CLS]) and L2-normalised.
   * f32 [texts.length][n_embd].
   */
  async embed(texts: string[]): Promise<Float32Array[]> {
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) throw new ValidationError('embed: texts must be an array of strings');
    const m = this.model;
    if (!m.hidden || !m.pooling) throw new ValidationError(`embed: ${this.info.architecture} is not an embedding model`);
    if (m.pooling === 'none') throw new ValidationError('embed: the model has no pooling (pooling_type none)');
    return this.exclusive(async () => {
      const nEmbd = this.info.nEmbd;
      const out: Float32Array[] = [];
      for (const text of texts) {
        const ids = this.tokenizer.encode(text, { addSpecial: true, parseSpecial: true });
        if (ids.length > m.maxTokens) throw new ValidationError(`embed: a text of ${ids.length} tokens exceeds the model's ${m.maxTokens}`);
        for (let i = 0; i < ids.length; i++) {
          m.inputTokens[i] = ids[i];
          m.inputPositions[i] = i;
        }
        await m.forward(ids.length, ids.length, 0);
        const e = new Float32Array(nEmbd);
        const h = m.hidden!;
        if (m.pooling === 'mean') {
          for (let t = 0; t < ids.length; t++) for (let i = 0; i < nEmbd; i++) e[i] += h[t * nEmbd + i];
          for (let i = 0; i < nEmbd; i++) e[i] /= ids.length;
        } else {
          const row = m.pooling === 'cls' ? 0 : ids.length - 1;
          e.set(h.subarray(row * nEmbd, (row + 1) * nEmbd));
        }
        let norm = 0;
        for (const v of e) norm += v * v;
        norm = Math.sqrt(norm);
        if (norm > 0) for (let i = 0; i < nEmbd; i++) e[i] /= norm;
        out.push(e);
      }
      return out;
    });
  }

  /** Generate from a prompt. Iterate the result to stream `{ text, token }`. */
  generate(req: GenerateRequest): Generation {
    if (req === null || typeof req !== 'object') throw new ValidationError('generate: request must be an object');
    if (this.model.pooling) throw new ValidationError(`generate: ${this.info.architecture} is an embedding model; use embed()`);
    const options = resolveOptions(req.options ?? {});
    const grammar = structuredOutput(req);
    if (req.images?.length) return this.generateWithImages(req, options, grammar);
    let tokens: number[];
    if (Array.isArray(req.prompt)) {
      tokens = req.prompt.slice();
      for (const t of tokens) if (!Number.isInteger(t) || t < 0 || t >= this.info.nVocab) throw new ValidationError(`generate: token id ${t} is outside the vocabulary (0..${this.info.nVocab - 1})`);
    } else if (typeof req.prompt === 'string') {
      if (req.prompt === '') throw new ValidationError('generate: the prompt is empty');
      let text = req.prompt;
      if (!req.raw && this.info.chatTemplate) {
        const messages: ChatMessage[] = [];
        if (req.system) messages.push({ role: 'system', content: req.system });
        messages.push({ role: 'user', content: req.prompt });
        text = this.renderTemplate(messages, req.tools);
      }
      tokens = this.tokenizer.encode(text, { addSpecial: true, parseSpecial: true });
    } else {
      throw new ValidationError('generate: prompt must be a string or an array of token ids');
    }
    if (tokens.length === 0) throw new ValidationError('generate: the prompt is empty');
    if (req.logprobs !== undefined && !(Number.isInteger(req.logprobs) && req.logprobs >= 0 && req.logprobs <= 20)) {
      throw new ValidationError(`generate: logprobs must be an integer in 0..20, got ${req.logprobs}`);
    }
    const kvTypes = resolveKvTypes(req.options as Record<string, unknown> | undefined, this.kvm!.cache.defaultTypes);
    return this.run(tokens, options, kvTypes, req.signal, req.logprobs, grammar, grammar && req.tools && req.toolChoice !== 'none' ? req.tools : null);
  }

  private generateWithImages(req: GenerateRequest, options: ResolvedOptions, grammar: GrammarAutomaton | null): Generation {
    const images = req.images!;
    if (!this.vision) throw new ValidationError(`generate: ${this.info.architecture} model '${this.info.path}' does not support images (no projector loaded)`);
    if (!images.every((b) => b instanceof Uint8Array)) throw new ValidationError('generate: images must be Uint8Arrays of encoded images');
    if (typeof req.prompt !== 'string') throw new ValidationError('generate: a request with images needs a text prompt');
    const session = req.session ?? 'default';
    let text = req.prompt;
    const markers = text.split(IMAGE_MARKER).length - 1;
    if (markers === 0) text = IMAGE_MARKER.repeat(images.length) + text;
    else if (markers !== images.length) throw new ValidationError(`generate: the prompt has ${markers} image markers for ${images.length} images`);
    if (!req.raw && this.info.chatTemplate) {
      const messages: ChatMessage[] = [];
      if (req.system) messages.push({ role: 'system', content: req.system });
      messages.push({ role: 'user', content: text });
      text = this.renderTemplate(messages, req.tools);
    }
    const kvTypes = resolveKvTypes(req.options as Record<string, unknown> | undefined, this.kvm!.cache.defaultTypes);
    const vis = { text, images, session };
    return this.run([], options, kvTypes, req.signal, req.logprobs, grammar, grammar && req.tools && req.toolChoice !== 'none' ? req.tools : null, vis);
  }

  /** The KV cache's pages, tiers and counters (null for encoder models). */
  kvStats(): KvStats | null {
    return this.kvm?.stats() ?? null;
  }

  /** Generation slots: how many, held, waiting, and the batches run (null for encoder models). */
  slotStats(): SchedulerStats | null {
    return this.sched?.stats() ?? null;
  }

  /** Waits until the KV pages being written to storage are written (before exit, in tests). */
  async kvFlush(): Promise<void> {
    await this.kvm?.flush();
  }

  /** Chat: renders the model's chat template over `messages` and generates the assistant's turn. */
  chat(req: ChatRequest): Generation {
    if (!Array.isArray(req?.messages) || req.messages.length === 0) throw new ValidationError('chat: messages must be a non-empty array');
    for (const m of req.messages) {
      if (typeof m?.role !== 'string' || typeof m.content !== 'string') throw new ValidationError('chat: every message needs a string role and content');
    }
    structuredOutput(req); // validates format/tools before the template sees them (cached for generate)
    // Images go before their message's text, each as IMAGE_MARKER (replaced by its blocks after the template).
    const images = req.messages.flatMap((m) => m.images ?? []);
    const messages = images.length ? req.messages.map((m) => (m.images?.length ? { role: m.role, content: IMAGE_MARKER.repeat(m.images.length) + m.content } : m)) : req.messages;
    const text = this.renderTemplate(messages, req.tools);
    return this.generate({ prompt: text, raw: true, options: req.options, signal: req.signal, logprobs: req.logprobs, format: req.format, tools: req.tools, toolChoice: req.toolChoice, images: images.length ? images : undefined, session: req.session });
  }

  /** The model's chat template over `messages` (and `tools`), up to the assistant's turn (the text chat() tokenizes). */
  renderTemplate(messages: ChatMessage[], tools?: ToolDefinition[] | null): string {
    const bos = this.tokenizer.bos !== null ? this.tokenizer.tokenText(this.tokenizer.bos) : '';
    const eos = this.tokenizer.eos !== null ? this.tokenizer.tokenText(this.tokenizer.eos) : '';
    const text = renderChat(this.info.chatTemplate, messages, { addGenerationPrompt: true, bosToken: bos, eosToken: eos, ...(tools?.length ? { tools } : {}) });
    // The template usually writes the BOS text itself; encode() adds BOS again when the GGUF asks for it.
    return this.tokenizer.addBos && bos && text.startsWith(bos) ? text.slice(bos.length) : text;
  }

  /**
   * Evaluate `tokens` from position 0 and return the logits of every position, f32 [n][n_vocab].
   * Requires `logitRows ≥ tokens.length` at createEngine. For tests and scoring.
   */
  async evaluate(tokens: number[]): Promise<Float32Array[]> {
    return this.exclusive(async () => {
      const m = this.model;
      if (tokens.length > m.logitRows || tokens.length > m.maxTokens) throw new ValidationError(`evaluate: ${tokens.length} tokens exceed logitRows ${m.logitRows} / batch ${m.maxTokens}`);
      m.kv.ensure(tokens.length);
      const kvm = this.kvm!;
      const seq = await kvm.begin(tokens, kvm.cache.defaultTypes, { reuse: false });
      try {
        kvm.prepare(seq, tokens.length);
        for (let i = 0; i < tokens.length; i++) {
          m.inputTokens[i] = tokens[i];
          m.inputPositions[i] = i;
        }
        await m.forward(tokens.length, tokens.length, tokens.length);
        kvm.commit(seq, tokens, 0, tokens.length);
      } finally {
        kvm.release(seq);
      }
      const V = this.info.nVocab;
      return tokens.map((_, i) => m.logits.slice(i * V, (i + 1) * V));
    });
  }

  /**
   * Time prefill of `promptTokens` (one batch) and `nPredict` greedy decode steps. Milliseconds.
   * `outRows` (default 1): logits of the prefill's last that many rows, at most max(logitRows, numParallel) and the
   * rows of its last forward (a forward of N rows with N logit rows does the work of a batched decode step of N
   * sequences); decode continues from the last row's.
   */
  async bench(req: { promptTokens: number[]; nPredict: number; outRows?: number }): Promise<{ prefillMs: number; decodeMs: number; nPrompt: number; nDecode: number }> {
    return this.exclusive(async () => {
      const m = this.model;
      const n = req.promptTokens.length;
      const outRows = req.outRows ?? 1;
      const lastLen = n - Math.floor((n - 1) / m.maxTokens) * m.maxTokens; // rows of the prefill's last forward
      if (!(outRows >= 1 && outRows <= Math.min(lastLen, Math.max(m.logitRows, m.maxSeqs ?? 1)))) throw new ValidationError(`bench: outRows ${outRows} outside 1..min(rows of the last prefill forward ${lastLen}, max(logitRows, numParallel))`);
      m.kv.ensure(n + req.nPredict);
      const kvm = this.kvm!;
      const seq = await kvm.begin(req.promptTokens, kvm.cache.defaultTypes, { reuse: false });
      try {
        kvm.prepare(seq, n + req.nPredict); // pages taken before timing
        const t0 = performance.now();
        for (let start = 0; start < n; start += m.maxTokens) {
          const len = Math.min(m.maxTokens, n - start);
          for (let i = 0; i < len; i++) {
            m.inputTokens[i] = req.promptTokens[start + i];
            m.inputPositions[i] = start + i;
          }
          await m.forward(len, start + len, start + len === n ? outRows : 1);
        }
        const t1 = performance.now();
        let tok = argmax(m.logits.subarray((outRows - 1) * this.info.nVocab), this.info.nVocab);
        for (let i = 0; i < req.nPredict; i++) {
          m.inputTokens[0] = tok;
          m.inputPositions[0] = n + i;
          await m.forward(1, n + i + 1, 1);
          tok = argmax(m.logits, this.info.nVocab);
        }
        const t2 = performance.now();
        return { prefillMs: t1 - t0, decodeMs: t2 - t1, nPrompt: n, nDecode: req.nPredict };
      } finally {
        kvm.release(seq); // nothing committed: its pages go back unindexed
      }
    });
  }

  private run(prompt: number[], o: ResolvedOptions, kvTypes: KvTypes, signal?: AbortSignal, logprobs?: number, grammar: GrammarAutomaton | null = null, tools: ToolDefinition[] | null = null, vis: ImageRequest | null = null): Generation {
    const self = this;
    const gen: Generation = {
      doneReason: null,
      stats: null,
      toolCalls: null,
      [Symbol.asyncIterator]() {
        return self.stream(prompt, o, kvTypes, gen, signal, logprobs, grammar, tools, vis)[Symbol.asyncIterator]();
      },
    };
    return gen;
  }

  private async *stream(prompt: number[], o: ResolvedOptions, kvTypes: KvTypes, gen: Generation, signal: AbortSignal | undefined, logprobs: number | undefined, grammar: GrammarAutomaton | null, tools: ToolDefinition[] | null, vis: ImageRequest | null = null): AsyncGenerator<GenerateChunk> {
    if (this.closed) throw new EngineClosedError();
    const t0 = now();
    const slot = await this.sched!.acquireSlot(signal);
    if (!slot) {
      // Aborted while waiting for a slot.
      gen.doneReason = 'abort';
      gen.stats = { promptTokens: prompt.length, cachedTokens: 0, promptEvalNs: 0, evalCount: 0, evalNs: 0, totalNs: now() - t0 };
      return;
    }
    let seq: KvSequence | null = null;
    let ip: ImagePrompt | null = null;
    try {
      // Images: encoded (through the image cache), then laid out in the prompt; the KV manager keys `kvPrompt`.
      if (vis) {
        const { encoded, encodeNs } = await this.vision!.encodeImages(vis.images, vis.session);
        ip = { ...this.vision!.layout(vis.text, encoded, true), cached: encoded.map((e) => e.cached), encodeNs };
        prompt = ip.tokens;
        gen.images = { blocks: ip.blocks, cached: ip.cached, encodeNs, promptTokens: prompt.length };
        if (prompt.length >= this.info.nCtx) {
          throw new ValidationError(`more images than the context fits: the prompt with ${vis.images.length} image(s) (${ip.blocks.length} blocks) is ${prompt.length} tokens, the context (num_ctx) is ${this.info.nCtx}`);
        }
      }
      const kvPrompt = ip ? ip.kvTokens : prompt;
      if (prompt.length >= this.info.nCtx) throw new KvCacheFullError(prompt.length + 1, this.info.nCtx);
      // Structured output: the constraint masks each step; its text is what the tool-call parser reads.
      const constraint = grammar ? GrammarConstraint.create(grammar, this.tokenizer) : null;
      // A generation that began before this one and is evaluating a prompt with the same first page(s): wait for its
      // pages to be in the cache, then share them. Then the longest cached prefix (the prefix index; at least the last
      // prompt token is left to evaluate), under the model's lock: promoting or copying pages writes backend memory.
      await this.sched!.awaitSharedPrefill(slot, kvPrompt, this.kvm!.cache.pageSize, signal);
      const release = await this.acquire();
      try {
        seq = await this.kvm!.begin(kvPrompt, kvTypes, { tableSet: slot.tableSet, images: ip?.spans });
      } finally {
        release();
      }
      slot.seq = seq;
      const reused = seq.reused;
      // An image prompt is evaluated here (exclusive forwards, one image block each); its decode joins the batches.
      if (ip) await this.vision!.prefill(this.kvm!, seq, ip, slot.logits, signal);
      yield* this.decode(prompt, o, slot, t0, gen, signal, logprobs, constraint, ip ? { start: seq.n, reused } : undefined);
      if (constraint && tools) gen.toolCalls = parseToolCalls(constraint.text(), tools);
    } finally {
      if (seq) this.kvm!.release(seq);
      if (ip) this.vision!.endPrompt(slot.tableSet); // qwen2vl: the slot's M-RoPE offset back to 0
      this.sched!.releaseSlot(slot);
    }
  }

  private async *decode(prompt: number[], o: ResolvedOptions, slot: Slot, t0: number, gen: Generation, signal?: AbortSignal, logprobs?: number, constraint: GrammarConstraint | null = null, prefilled?: { start: number; reused: number }): AsyncGenerator<GenerateChunk> {
    const sched = this.sched!;
    const seq = slot.seq!;
    const logits = slot.logits;
    const V = this.info.nVocab;
    const nCtx = this.info.nCtx;
    const reuse = prefilled ? prefilled.reused : seq.reused;

    // The prompt's rest, in chunks the scheduler cuts to the batch rows left beside the other generations.
    for (let start = prefilled ? prefilled.start : reuse; start < prompt.length; ) {
      if (signal?.aborted) break;
      start += await sched.step(slot, prompt, start, prompt.length - start);
    }
    slot.endPrefill();
    const t1 = now();

    const sampler = new Sampler(V, o, constraint ?? undefined);
    const window = o.repeat_last_n === -1 ? nCtx : o.repeat_last_n;
    for (const t of prompt.slice(Math.max(0, prompt.length - window))) sampler.accept(t);
    const utf8 = new Utf8Stream();
    const stops = new StopMatcher([...o.stop]);
    const limit = o.num_predict < 0 ? Infinity : o.num_predict;
    // Log-probabilities, only when asked: one result buffer per generation; entries wait in `lps` while text is held.
    const lpBuf = logprobs === undefined ? null : new TopLogprobs(Math.max(1, logprobs));
    let lps: TokenLogprob[] | undefined;
    let n = 0;
    let stopped = false;
    let reason: DoneReason = 'stop';
    if (signal?.aborted) reason = 'abort';
    else {
      // The next token's step is asked for before the token is handed to the consumer, so a generation whose consumer
      // is slow (an HTTP stream's write) still joins the next batch; a consumer that stops is one step behind at most.
      let pending: Promise<number> | null = null;
      try {
        for (;;) {
          if (n >= limit) {
            reason = 'length';
            break;
          }
          if (pending) {
            await pending;
            pending = null;
          }
          // Budget for the constraint: this token and the ones the length and context limits still allow.
          if (constraint) constraint.remaining = Math.min(limit - n, nCtx - seq.n + 1);
          const tok = sampler.sample(logits);
          constraint?.accept(tok);
          sampler.accept(tok);
          n++;
          if (this.tokenizer.isEog(tok)) {
            slot.done = true;
            break;
          }
          if (lpBuf) {
            topLogprobs(logits, tok, logprobs!, lpBuf);
            const top: TokenLogprob['top'] = [];
            for (let i = 0; i < lpBuf.k; i++) top.push({ token: lpBuf.ids[i], logprob: lpBuf.logprobs[i] });
            (lps ??= []).push({ token: tok, logprob: lpBuf.logprob, top });
          }
          const r = stops.push(utf8.push(this.tokenizer.tokenBytes(tok)));
          const full = seq.n + 1 > nCtx;
          if (!r.stopped && !constraint?.finished && !signal?.aborted && !full && n < limit) {
            slot.token[0] = tok;
            pending = sched.step(slot, slot.token, 0, 1);
            pending.catch(() => {}); // awaited below or in `finally`; never an unhandled rejection meanwhile
          } else slot.done = true; // no more steps: batches need not wait for this consumer

          if (r.emit || !r.stopped) {
            yield lps ? { text: r.emit, token: tok, logprobs: lps } : { text: r.emit, token: tok };
            lps = undefined;
          }
          if (r.stopped) {
            stopped = true;
            break;
          }
          if (constraint?.finished) break; // complete, and nothing may follow: end as if EOS was sampled
          if (signal?.aborted) {
            reason = 'abort';
            break;
          }
          if (full) {
            reason = 'length';
            break;
          }
        }
      } finally {
        // A step still in flight writes this sequence's pages: it ends before the sequence is released.
        if (pending) await pending.catch(() => {});
      }
      if (!stopped) {
        const r = stops.push(utf8.flush());
        const tail = r.stopped ? r.emit : r.emit + stops.flush();
        if (tail) yield { text: tail, token: -1 };
      }
    }
    const t2 = now();
    gen.doneReason = reason;
    gen.stats = {
      promptTokens: prompt.length,
      cachedTokens: reuse,
      promptEvalNs: t1 - t0,
      evalCount: n,
      evalNs: t2 - t1,
      totalNs: t2 - t0,
    };
  }

  /** Waits for the model (one sequence at a time) and returns the function that frees it. */
  private async acquire(): Promise<() => void> {
    let release!: () => void;
    const prev = this.busy;
    this.busy = new Promise<void>((r) => (release = r));
    await prev;
    if (this.closed) {
      release();
      throw new EngineClosedError();
    }
    return release;
  }

  /** Runs `fn` alone on the model (between batches). */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.exclusive(async () => {
      this.sched?.close(); // running generations end with EngineClosedError at their next step
      await this.kvm?.flush(); // pages still queued for storage are written before the memory goes
      await this.backend.close();
    });
    this.closed = true;
  }
}

/** The images of a request: the prompt text with one IMAGE_MARKER per image, and the session tagging cache entries. */
interface ImageRequest {
  text: string;
  images: Uint8Array[];
  session: string;
}

/** TESSERA_NUM_PARALLEL (Ollama's OLLAMA_NUM_PARALLEL) when set to a positive integer, else 4. */
function defaultNumParallel(): number {
  const v = typeof process !== 'undefined' ? process.env?.TESSERA_NUM_PARALLEL : undefined;
  const n = v ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 1 ? Math.min(n, 64) : 4;
}

function argmax(a: Float32Array, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (a[i] > a[best]) best = i;
  return best;
}

function describe(file: GgufFile, model: Model, be: Backend, nCtx: number): ModelInfo {
  const hp = model.hp;
  const ft = file.metadata.get('general.file_type');
  const template = file.metadata.get('tokenizer.chat_template');
  return {
    path: file.path,
    architecture: hp.arch,
    nVocab: hp.nVocab,
    nCtx,
    nCtxTrain: hp.nCtxTrain,
    nEmbd: hp.nEmbd,
    nLayer: hp.nLayer,
    nHead: hp.nHead,
    nHeadKv: hp.nHeadKv,
    fileType: typeof ft === 'number' ? fileTypeName(ft) : 'unknown',
    memoryBytes: be.bytesAllocated(),
    kvBytes: model.kv.bytes,
    backend: be.name,
    threads: be.nThreads,
    shards: be instanceof ShardedBackend ? be.shards.length : 1,
    chatTemplate: typeof template === 'string' ? template : null,
    vision: null,
  };
}

/** llama.cpp `enum llama_ftype` names for the types we load. */
function fileTypeName(ft: number): string {
  const names: Record<number, string> = { 0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 7: 'Q8_0', 8: 'Q5_0', 9: 'Q5_1', 25: 'IQ4_NL', 32: 'BF16', 14: 'Q4_K_S', 15: 'Q4_K_M', 16: 'Q5_K_S', 17: 'Q5_K_M', 18: 'Q6_K', 10: 'Q2_K', 11: 'Q3_K_S', 12: 'Q3_K_M', 13: 'Q3_K_L', 30: 'IQ4_XS' };
  return names[ft] ?? `ftype#${ft}`;
}

export function createEngine(opts: EngineOptions): Promise<Engine> {
  return Engine.create(opts);
}
