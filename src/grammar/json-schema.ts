/**
 * JSON Schema → byte grammar (grammar.ts), in the spirit of llama.cpp's json-schema-to-grammar: every text the
 * grammar accepts is compact JSON that validates against the schema.
 *
 * Supported: type (one or a list), properties, required, additionalProperties (absent/false: only the declared
 * properties; true or a schema: more properties after them, with keys that differ from the declared ones),
 * items, minItems, maxItems, minLength, maxLength, enum, const, anyOf, allOf of one schema, $ref to
 * "#/$defs/…" or "#/definitions/…" (recursion allowed), minimum/maximum where simple (see `integerRange`),
 * `true`/`{}` (any JSON value). Annotations (description, title, examples, default, $schema, $id, $comment,
 * deprecated, readOnly, writeOnly) are ignored. Anything else throws InvalidSchemaError listing the keywords.
 *
 * Output shape, chosen so that the text is valid whatever is sampled and never grows without need:
 * - properties appear in the schema's order, required ones always, optional ones maybe;
 * - no whitespace except one optional space after ':' and ',';
 * - numbers: -?(0|[1-9][0-9]{0,14})(\.[0-9]{1,15})?([eE][-+]?[0-9]{1,2})? (integers without the fraction and
 *   exponent), so that every number parses to a finite double;
 * - strings: any Unicode scalar except '"', '\' and U+0000–U+001F raw; escapes \" \\ \/ \b \f \n \r \t and
 *   \uXXXX outside the surrogates (so that string lengths count the same as JSON Schema's code points);
 * - additional-property keys use no escapes (so the grammar can tell them apart from the declared names).
 */
import { InvalidSchemaError } from './errors.ts';
import { GrammarBuilder, type Elem, type Grammar, type Seq } from './grammar.ts';

/** A JSON Schema: an object, or a boolean (true: anything). */
export type JsonSchema = boolean | { [keyword: string]: unknown };

const IGNORED = new Set(['description', 'title', 'examples', 'default', '$schema', '$id', '$comment', 'deprecated', 'readOnly', 'writeOnly', '$defs', 'definitions']);
const OBJECT_KW = ['properties', 'required', 'additionalProperties'];
const ARRAY_KW = ['items', 'minItems', 'maxItems'];
const STRING_KW = ['minLength', 'maxLength'];
const NUMBER_KW = ['minimum', 'maximum'];
const SUPPORTED = new Set(['type', 'enum', 'const', 'anyOf', 'allOf', '$ref', ...OBJECT_KW, ...ARRAY_KW, ...STRING_KW, ...NUMBER_KW]);
const TYPES = ['object', 'array', 'string', 'number', 'integer', 'boolean', 'null'] as const;
type TypeName = (typeof TYPES)[number];

/** Longest integer range enumerated as literals for minimum/maximum on integers. */
export const MAX_ENUMERATED_RANGE = 1000;
/** Largest minLength/maxLength/minItems/maxItems compiled (each unit of a bound is a grammar rule). */
export const MAX_REPEAT_BOUND = 4096;

/** Compile a JSON Schema to a grammar whose sentences are the JSON texts the schema accepts (compact form). */
export function compileJsonSchema(schema: unknown): Grammar {
  return new SchemaCompiler(schema).compile();
}

/** Ollama's format "json": any JSON object. */
export function jsonObjectGrammar(): Grammar {
  return compileJsonSchema({ type: 'object' });
}

/**
 * Shared pieces of JSON syntax, built once per builder: value, string, number, … Exposed so that other
 * grammars (the tool-call envelope) can be assembled from the same builder.
 */
export class JsonRules {
  private cache = new Map<string, Elem>();
  constructor(readonly g: GrammarBuilder) {}

  private once(name: string, make: () => Elem): Elem {
    let e = this.cache.get(name);
    if (!e) {
      e = make();
      this.cache.set(name, e);
    }
    return e;
  }

  /** Optional single space (after ':' and ','). */
  sp(): Elem {
    return this.once('sp', () => this.g.opt(this.g.lit(' ')));
  }

  /** One character of a JSON string: a raw scalar or an escape. */
  strChar(): Elem {
    return this.once('char', () => {
      const g = this.g;
      const raw = g.chars('raw-char', [[0x20, 0x21], [0x23, 0x5b], [0x5d, 0x10ffff]]);
      const hex = g.set([[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]]);
      // \uXXXX except D800–DFFF: first digit not d/D, or d/D then 0–7.
      const notD = g.set([[0x30, 0x39], [0x41, 0x43], [0x45, 0x46], [0x61, 0x63], [0x65, 0x66]]);
      const dD = g.set([[0x44, 0x44], [0x64, 0x64]]);
      const lowOct = g.set([[0x30, 0x37]]);
      const u = g.alt('u-escape', [[notD, hex, hex, hex], [dD, lowOct, hex, hex]]);
      const esc = g.alt('escape', [[g.set([[0x22, 0x22], [0x5c, 0x5c], [0x2f, 0x2f], [0x62, 0x62], [0x66, 0x66], [0x6e, 0x6e], [0x72, 0x72], [0x74, 0x74]])], [g.byte(0x75), u]]);
      return g.alt('char', [[raw], [g.byte(0x5c), esc]]);
    });
  }

  /** A string of min..max characters. */
  string(min = 0, max = Infinity): Elem {
    return this.once(`string:${min}:${max}`, () => {
      const q = this.g.byte(0x22);
      return this.g.alt('string', [[q, ...this.g.repeat([this.strChar()], min, max), q]]);
    });
  }

  /** A string without escapes whose content is none of `names` (additional-property keys). */
  keyExcept(names: readonly string[]): Elem {
    return this.once(`key-except:${JSON.stringify(names)}`, () => new KeyExclusion(this.g, names).root());
  }

  digits(min: number, max: number): Seq {
    return this.g.repeat([this.g.set([[0x30, 0x39]])], min, max);
  }

  /** Non-negative integer without leading zeros, at most 15 digits. */
  natural(): Elem {
    return this.once('natural', () => this.g.alt('natural', [this.g.lit('0'), [this.g.set([[0x31, 0x39]]), ...this.digits(0, 14)]]));
  }

  integer(nonNegative = false): Elem {
    return this.once(`integer:${nonNegative}`, () => (nonNegative ? this.natural() : this.g.alt('integer', [[this.g.opt(this.g.lit('-')), this.natural()]])));
  }

  number(nonNegative = false): Elem {
    return this.once(`number:${nonNegative}`, () => {
      const g = this.g;
      const frac = g.opt([...g.lit('.'), ...this.digits(1, 15)]);
      const exp = g.opt([g.set([[0x45, 0x45], [0x65, 0x65]]), g.opt([g.set([[0x2b, 0x2b], [0x2d, 0x2d]])]), ...this.digits(1, 2)]);
      return g.alt('number', [[this.integer(nonNegative), frac, exp]]);
    });
  }

  /** Any JSON value (recursive). */
  value(): Elem {
    const hit = this.cache.get('value');
    if (hit) return hit;
    const g = this.g;
    const v = g.declare('value');
    const ref: Elem = { rule: v };
    this.cache.set('value', ref);
    g.define(v, [[this.object(ref)], [this.array(ref, 0, Infinity)], [this.string()], [this.number()], g.lit('true'), g.lit('false'), g.lit('null')]);
    return ref;
  }

  /** `{ "key": value, … }` with any keys (escapes allowed) and values of `valueElem`. */
  object(valueElem: Elem): Elem {
    const g = this.g;
    const member: Seq = [this.string(), ...g.lit(':'), this.sp(), valueElem];
    const more = g.repeat([...g.lit(','), this.sp(), ...member], 0, Infinity);
    return g.alt('object', [[...g.lit('{'), g.opt([...member, ...more]), ...g.lit('}')]]);
  }

  /** `[ item, … ]` with min..max items. */
  array(item: Elem, min: number, max: number): Elem {
    const g = this.g;
    const sep: Seq = [...g.lit(','), this.sp()];
    let body: Seq;
    if (max === 0) body = [];
    else if (min === 0) body = [g.opt([item, ...g.repeat([...sep, item], 0, max - 1)])];
    else body = [item, ...g.repeat([...sep, item], min - 1, max - 1)];
    return g.alt('array', [[...g.lit('['), ...body, ...g.lit(']')]]);
  }
}

/**
 * Keys (content between the quotes, no escapes) that are not one of `names`: a trie over the names' code
 * points; at each node the key may end (unless the node ends a name), continue into a child, or leave the
 * trie with any other character and then go on freely.
 */
class KeyExclusion {
  private readonly trie: { children: Map<number, number>; word: boolean }[] = [{ children: new Map(), word: false }];
  private readonly free: Elem;
  private readonly q: Elem;
  constructor(private readonly g: GrammarBuilder, names: readonly string[]) {
    for (const name of names) {
      let n = 0;
      for (const ch of name) {
        const cp = ch.codePointAt(0)!;
        let next = this.trie[n].children.get(cp);
        if (next === undefined) {
          next = this.trie.length;
          this.trie.push({ children: new Map(), word: false });
          this.trie[n].children.set(cp, next);
        }
        n = next;
      }
      this.trie[n].word = true;
    }
    this.q = g.byte(0x22);
    // Free continuation: raw characters then the closing quote.
    this.free = g.alt('key-rest', [[...g.repeat([g.chars('key-char', KEY_CHARS)], 0, Infinity), this.q]]);
  }

  root(): Elem {
    return this.g.alt('key', [[this.q, this.nodeRule(0)]]);
  }

  private nodeRule(n: number): Elem {
    const g = this.g;
    const { children, word } = this.trie[n];
    const alts: Seq[] = [];
    if (!word) alts.push([this.q]);
    for (const [cp, child] of children) alts.push([...g.lit(String.fromCodePoint(cp)), this.nodeRule(child)]);
    const others = subtract(KEY_CHARS, [...children.keys()]);
    if (others.length > 0) alts.push([g.chars('key-other', others), this.free]);
    return g.alt('key-node', alts);
  }
}

/** Raw characters allowed in a key without escapes. */
const KEY_CHARS: [number, number][] = [[0x20, 0x21], [0x23, 0x5b], [0x5d, 0x10ffff]];

/** Code-point ranges minus single code points. */
function subtract(ranges: readonly [number, number][], points: number[]): [number, number][] {
  let out = ranges.map(([a, b]) => [a, b] as [number, number]);
  for (const p of points) {
    const next: [number, number][] = [];
    for (const [a, b] of out) {
      if (p < a || p > b) next.push([a, b]);
      else {
        if (a <= p - 1) next.push([a, p - 1]);
        if (p + 1 <= b) next.push([p + 1, b]);
      }
    }
    out = next;
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function pointer(path: string, key: string | number): string {
  return `${path}/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`;
}

/**
 * Compiles one schema (with its own $defs) into a builder; several compilers may share a builder (the
 * tool-call envelope holds one schema per tool). `rootPath` prefixes the paths in error messages.
 */
export class SchemaCompiler {
  private readonly refs = new Map<string, number>();

  constructor(
    private readonly rootSchema: unknown,
    readonly g: GrammarBuilder = new GrammarBuilder(),
    readonly json: JsonRules = new JsonRules(g),
    private readonly rootPath = '#',
  ) {}

  /** The element matching the root schema. */
  root(): Elem {
    return this.visit(this.rootSchema, this.rootPath);
  }

  compile(): Grammar {
    const root = this.g.declare('root');
    this.g.define(root, [[this.root()]]);
    return this.g.build(root);
  }

  private fail(message: string, keywords: string[], path: string): never {
    throw new InvalidSchemaError(message, keywords, path);
  }

  visit(s: unknown, path: string): Elem {
    if (s === true) return this.json.value();
    if (s === false) this.fail('the schema `false` accepts nothing', ['false'], path);
    if (!isObject(s)) this.fail(`a schema must be an object or a boolean, got ${s === null ? 'null' : Array.isArray(s) ? 'an array' : typeof s}`, [], path);
    const unsupported = Object.keys(s).filter((k) => !SUPPORTED.has(k) && !IGNORED.has(k));
    if (unsupported.length > 0) {
      this.fail(`unsupported keyword${unsupported.length > 1 ? 's' : ''} ${unsupported.map((k) => `'${k}'`).join(', ')}`, unsupported, path);
    }
    const keys = Object.keys(s).filter((k) => SUPPORTED.has(k));
    if ('$ref' in s) {
      const others = keys.filter((k) => k !== '$ref');
      if (others.length > 0) this.fail(`'$ref' beside ${others.map((k) => `'${k}'`).join(', ')} is not supported`, others, path);
      return this.ref(s.$ref, pointer(path, '$ref'));
    }
    for (const k of ['const', 'enum', 'anyOf', 'allOf'] as const) {
      if (!(k in s)) continue;
      const others = keys.filter((x) => x !== k && x !== 'type');
      if (others.length > 0) this.fail(`'${k}' beside ${others.map((x) => `'${x}'`).join(', ')} is not supported`, others, path);
    }
    if ('const' in s) return this.literals([s.const], path, s.type);
    if ('enum' in s) {
      if (!Array.isArray(s.enum) || s.enum.length === 0) this.fail("'enum' must be a non-empty array", ['enum'], path);
      return this.literals(s.enum, path, s.type);
    }
    if ('anyOf' in s || 'allOf' in s) {
      const k = 'anyOf' in s ? 'anyOf' : 'allOf';
      const list = s[k];
      if (!Array.isArray(list) || list.length === 0) this.fail(`'${k}' must be a non-empty array of schemas`, [k], path);
      if (k === 'allOf' && list.length !== 1) this.fail("'allOf' with more than one schema is not supported", ['allOf'], path);
      if ('type' in s) this.fail(`'type' beside '${k}' is not supported (put it in each branch)`, ['type'], path);
      return this.g.alt(k, list.map((sub, i) => [this.visit(sub, pointer(pointer(path, k), i))]));
    }
    const types = this.types(s, path);
    if (types.length === 0) return this.json.value();
    const alts = types.map((t) => [this.typed(t, s, path)]);
    return alts.length === 1 ? alts[0][0] : this.g.alt('types', alts);
  }

  private types(s: Record<string, unknown>, path: string): TypeName[] {
    const t = s.type;
    if (t === undefined) {
      // No type: infer it from the keywords present, as validators would apply them.
      const inferred = new Set<TypeName>();
      if (OBJECT_KW.some((k) => k in s)) inferred.add('object');
      if (ARRAY_KW.some((k) => k in s)) inferred.add('array');
      if (STRING_KW.some((k) => k in s)) inferred.add('string');
      if (NUMBER_KW.some((k) => k in s)) inferred.add('number');
      if (inferred.size > 1) this.fail(`keywords of several types (${[...inferred].join(', ')}) without 'type' are not supported`, ['type'], path);
      return [...inferred];
    }
    const list = Array.isArray(t) ? t : [t];
    if (list.length === 0) this.fail("'type' must not be empty", ['type'], path);
    for (const x of list) if (!TYPES.includes(x as TypeName)) this.fail(`unknown type ${JSON.stringify(x)}`, ['type'], path);
    // integer ⊂ number: keep number alone so the alternatives don't overlap needlessly.
    return [...new Set(list as TypeName[])].filter((x, _, all) => !(x === 'integer' && all.includes('number')));
  }

  private typed(t: TypeName, s: Record<string, unknown>, path: string): Elem {
    const g = this.g;
    switch (t) {
      case 'null':
        return g.alt('null', [g.lit('null')]);
      case 'boolean':
        return g.alt('boolean', [g.lit('true'), g.lit('false')]);
      case 'string': {
        const min = this.count(s, 'minLength', 0, path);
        const max = this.count(s, 'maxLength', Infinity, path);
        if (min > max) this.fail('minLength > maxLength', ['minLength', 'maxLength'], path);
        return this.json.string(min, max);
      }
      case 'number':
      case 'integer':
        return this.numeric(t, s, path);
      case 'array': {
        const min = this.count(s, 'minItems', 0, path);
        const max = this.count(s, 'maxItems', Infinity, path);
        if (min > max) this.fail('minItems > maxItems', ['minItems', 'maxItems'], path);
        if (Array.isArray(s.items)) this.fail("'items' as an array (tuple) is not supported", ['items'], path);
        const item = s.items === undefined ? this.json.value() : this.visit(s.items, pointer(path, 'items'));
        return this.json.array(item, min, max);
      }
      case 'object':
        return this.object(s, path);
    }
  }

  private count(s: Record<string, unknown>, k: string, dflt: number, path: string): number {
    const v = s[k];
    if (v === undefined) return dflt;
    if (!Number.isInteger(v) || (v as number) < 0) this.fail(`'${k}' must be a non-negative integer`, [k], path);
    if ((v as number) > MAX_REPEAT_BOUND) this.fail(`'${k}' above ${MAX_REPEAT_BOUND} is not supported`, [k], path);
    return v as number;
  }

  /**
   * minimum/maximum, where simple:
   * - integer with both bounds, at most MAX_ENUMERATED_RANGE + 1 values: the values, as literals;
   * - minimum ≥ 0 alone on an integer: 0 or 1 exactly (non-negative / positive integers);
   * - minimum 0 alone on a number: no minus sign.
   * Anything else throws InvalidSchemaError.
   */
  private numeric(t: 'number' | 'integer', s: Record<string, unknown>, path: string): Elem {
    const g = this.g;
    const lo = s.minimum;
    const hi = s.maximum;
    for (const [k, v] of [['minimum', lo], ['maximum', hi]] as const) {
      if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) this.fail(`'${k}' must be a finite number`, [k], path);
    }
    if (lo === undefined && hi === undefined) return t === 'integer' ? this.json.integer() : this.json.number();
    const simple = `only an integer range of at most ${MAX_ENUMERATED_RANGE + 1} values, an integer minimum of 0 or 1 alone, or a number minimum of 0 alone are supported`;
    if (t === 'integer' && typeof lo === 'number' && typeof hi === 'number') {
      const a = Math.ceil(lo);
      const b = Math.floor(hi);
      if (a > b) this.fail(`no integer lies in [${lo}, ${hi}]`, ['minimum', 'maximum'], path);
      if (b - a > MAX_ENUMERATED_RANGE) this.fail(`minimum/maximum: ${simple}`, ['minimum', 'maximum'], path);
      const alts: Seq[] = [];
      for (let v = a; v <= b; v++) alts.push(g.lit(String(v)));
      return g.alt('int-range', alts);
    }
    if (hi === undefined && t === 'integer' && lo === 0) return this.json.integer(true);
    if (hi === undefined && t === 'integer' && lo === 1) return g.alt('positive', [[g.set([[0x31, 0x39]]), ...this.json.digits(0, 14)]]);
    if (hi === undefined && t === 'number' && lo === 0) return this.json.number(true);
    const used = [lo !== undefined ? 'minimum' : null, hi !== undefined ? 'maximum' : null].filter((x): x is string => x !== null);
    this.fail(`${used.join('/')}: ${simple}`, used, path);
  }

  private object(s: Record<string, unknown>, path: string): Elem {
    const g = this.g;
    const props = s.properties === undefined ? {} : s.properties;
    if (!isObject(props)) this.fail("'properties' must be an object", ['properties'], path);
    const required = s.required === undefined ? [] : s.required;
    if (!Array.isArray(required) || required.some((r) => typeof r !== 'string')) this.fail("'required' must be an array of strings", ['required'], path);
    const add = s.additionalProperties;
    if (add !== undefined && typeof add !== 'boolean' && !isObject(add)) this.fail("'additionalProperties' must be a boolean or a schema", ['additionalProperties'], path);
    const names = Object.keys(props);
    // A required name without a schema of its own: any value (JSON Schema semantics).
    for (const r of required as string[]) if (!names.includes(r)) names.push(r);
    const req = new Set(required as string[]);
    // Free-form when nothing is declared and extra properties are not forbidden.
    const extra: Elem | null =
      add === false ? null : add === undefined ? (names.length === 0 ? this.json.value() : null) : add === true ? this.json.value() : this.visit(add, pointer(path, 'additionalProperties'));
    const sp = this.json.sp();
    const comma: Seq = [...g.lit(','), sp];
    const kv = names.map((n) => {
      const sub = n in props ? (props as Record<string, unknown>)[n] : true;
      return [...g.lit(JSON.stringify(n)), ...g.lit(':'), sp, this.visit(sub, pointer(pointer(path, 'properties'), n))];
    });
    const extraKv: Seq | null = extra === null ? null : [names.length === 0 ? this.json.string() : this.json.keyExcept(names), ...g.lit(':'), sp, extra];
    // F[i]: properties i.. with nothing written yet; C[i]: with something written (each needs a leading comma).
    const n = names.length;
    const F: Elem[] = new Array(n + 1);
    const C: Elem[] = new Array(n + 1);
    if (extraKv === null) {
      F[n] = g.alt('props-end', [[]]);
      C[n] = F[n];
    } else {
      const more = g.repeat([...comma, ...extraKv], 0, Infinity);
      C[n] = g.alt('extra-after', [more]);
      F[n] = g.alt('extra-first', [[], [...extraKv, ...more]]);
    }
    for (let i = n - 1; i >= 0; i--) {
      const isReq = req.has(names[i]);
      C[i] = g.alt('props-c', isReq ? [[...comma, ...kv[i], C[i + 1]]] : [[...comma, ...kv[i], C[i + 1]], [C[i + 1]]]);
      F[i] = g.alt('props-f', isReq ? [[...kv[i], C[i + 1]]] : [[...kv[i], C[i + 1]], [F[i + 1]]]);
    }
    return g.alt('object', [[...g.lit('{'), F[0], ...g.lit('}')]]);
  }

  /** const/enum: the values' compact JSON texts (those of another 'type', if one is given, are dropped). */
  private literals(values: unknown[], path: string, type: unknown): Elem {
    const alts: Seq[] = [];
    const types = type === undefined ? null : Array.isArray(type) ? type : [type];
    for (const v of values) {
      let text: string | undefined;
      try {
        text = JSON.stringify(v);
      } catch {
        text = undefined;
      }
      if (text === undefined || (typeof v === 'number' && !Number.isFinite(v))) this.fail(`value ${String(v)} is not JSON`, ['enum'], path);
      if (types && !types.some((t) => matchesType(v, t))) continue;
      alts.push(this.g.lit(text));
    }
    if (alts.length === 0) this.fail("no 'enum'/'const' value has the schema's 'type'", ['type'], path);
    return this.g.alt('literal', alts);
  }

  private ref(target: unknown, path: string): Elem {
    if (typeof target !== 'string') this.fail("'$ref' must be a string", ['$ref'], path);
    const hit = this.refs.get(target);
    if (hit !== undefined) return { rule: hit };
    const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(target);
    const root = this.rootSchema;
    const defs = m && isObject(root) ? root[m[1]] : undefined;
    const name = m?.[2].replaceAll('~1', '/').replaceAll('~0', '~');
    if (!m || !isObject(defs) || name === undefined || !(name in defs)) {
      this.fail(`'$ref' ${JSON.stringify(target)} does not resolve (only "#/$defs/<name>" and "#/definitions/<name>" in this schema are supported)`, ['$ref'], path);
    }
    const rule = this.g.declare(`ref:${name}`);
    this.refs.set(target, rule);
    this.g.define(rule, [[this.visit(defs[name], `${this.rootPath}/${m[1]}/${m[2]}`)]]);
    return { rule };
  }
}

function matchesType(v: unknown, t: unknown): boolean {
  switch (t) {
    case 'null':
      return v === null;
    case 'boolean':
      return typeof v === 'boolean';
    case 'string':
      return typeof v === 'string';
    case 'number':
      return typeof v === 'number';
    case 'integer':
      return Number.isInteger(v);
    case 'array':
      return Array.isArray(v);
    case 'object':
      return isObject(v);
    default:
      return false;
  }
}
