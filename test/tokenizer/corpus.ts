/**
 * Test strings for tokenizer conformance: a hand-written list of known trouble spots plus a seeded random mix
 * of the same ingredients. Deterministic for a given seed.
 */

import { mulberry32 as rng } from '../helpers/mulberry32.ts';

export { rng };

const WORDS = [
  'the', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'Hello', 'WORLD', 'tokenization', 'llama',
  'supercalifragilisticexpialidocious', 'naïve', 'café', 'résumé', 'Straße', 'Ångström', 'coöperate', 'jalapeño',
];
const SCRIPTS = [
  '你好世界', '我想在apple工作1314151天～', '日本語のテキストです', 'カタカナ', '한국어 텍스트입니다', '안녕하세요',
  'مرحبا بالعالم', 'السلام عليكم', 'नमस्ते दुनिया', 'हिन्दी भाषा', 'Привет, мир', 'Съешь же ещё этих мягких французских булок',
  'สวัสดีครับ', 'ภาษาไทย', 'Γειά σου Κόσμε', 'שלום עולם', 'Xin chào thế giới', 'ქართული', 'Հայերեն', 'ᐊᓕᒍᖅ',
  'កាន់តែពិសេសអាច', 'e\u0301', 'a\u0300\u0316', 'Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319', 'ǅemal', 'ﬁnance', 'Ⅻ', '①②③', '٣٤٥', '१२३', '½ ¾',
];
const EMOJI = [
  '🚀', '😶\u200d🌫️', '👨\u200d👩\u200d👧\u200d👦', '🏳️\u200d🌈', '🇯🇵', '🇺🇸🇬🇧', '👍🏽', '🦙🦙', '✅', '❤️', '🤖', '🧑🏿\u200d💻', '#️⃣', '©', '™',
];
const CODE = [
  'def f(x):\n    return x * 2\n',
  'for i in range(10):\n\tif i % 2 == 0:\n\t\tprint(i)',
  'const x = { a: 1, b: [2, 3] };\nconsole.log(`${x.a}`);',
  'fn main() {\n    let v: Vec<u8> = vec![1, 2, 3];\n    println!("{:?}", v);\n}',
  'if (a && b || !c) { return a->b; } // comment',
  '#include <stdio.h>\nint main(void) { return 0; }',
  'SELECT * FROM users WHERE id = 42;',
  '<div class="x">&nbsp;</div>',
  'x+=1;y-=2;z*=3;w/=4;',
  '    indented\n        more\n    back',
  'https://example.com/path?q=1&r=2#frag',
  'user@example.com',
  'a_b_c __init__ self.__dict__',
  '$ npm install --save-dev vitest',
  '{"key": "value", "n": [1, 2.5, -3e10]}',
];
const NUMBERS = [
  '1', '12', '123', '1234', '12345', '123456', '1234567', '12345678', '3.14159', '0.001', '1,000,000', '1e-9',
  '3..3', '3...3', '2024-01-15', '12:34:56', '$1,234.56', '-42', '+7', '99.9%', '0x1F', '１２３', '٣',
];
const SPACES = [' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', ' \n', '\n ', ' \t ', '\t\t\t', '\u00a0', '\u3000', '\u2009', '\u200b'];
const PUNCT = ['.', ',', '!', '?', '...', '—', '–', '"', "'", '(', ')', '[', ']', '{', '}', ':', ';', '¿', '¡', '«»', '„“', '。', '、', '!!!!', '??'];
const CONTRACTIONS = [
  "I've", "it's", "don't", "we're", "they'll", "I'd", "I'm", "IT'S", "DON'T", "We'Ve", "a'lL", "'s", "'t", "'re",
  "'ve", "'m", "'ll", "'d", "''''", "'RE", "'M", "'D", "o'clock", "rock'n'roll",
];

/** Special-token texts per vocabulary; exercised with parse_special on and off. */
export const SPECIAL_TEXTS: Record<string, string[]> = {
  llama2: ['<s>', '</s>', '<unk>'],
  llama3: ['<|begin_of_text|>', '<|end_of_text|>', '<|eot_id|>', '<|start_header_id|>', '<|end_header_id|>', '<|reserved_special_token_5|>', '<|eom_id|>'],
  qwen3: ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<think>', '</think>', '<tool_call>', '<|fim_prefix|>', '<|vision_start|>'],
};

const HAND_WRITTEN = [
  '', ' ', '  ', '\n', 'a', 'A', 'Hello world', ' Hello world', 'Hello World', 'hello  world', 'Hello\nworld',
  'The quick brown fox jumps over the lazy dog.',
  "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
  '\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български \'\'\'\'\'\'```````""""......!!!!!!?????? I\'ve been \'told he\'s there, \'RE you sure? \'M not sure I\'ll make it, \'D you like some tea? We\'Ve a\'lL',
  '   leading spaces', 'trailing spaces   ', '\t\ttabs\t\t', '\n\nnewlines\n\n', ' \n \n ', '\r\n\r\n',
  'a\u00a0b', 'a\u2009b', 'a\u3000b', 'x\u200by', '\ufeffBOM', 'tab\there', 'a\fb\vc',
  'Hello, world! How are you?', 'Hello , world ! How are you ?', "it ' s", ' . , ! ?',
  '12345678901234567890', '3.141592653589793', '1 22 333 4444 55555',
  '<s>', '</s>', '<s> hi </s>', '<|begin_of_text|>hi', '<|im_start|>user\nhi<|im_end|>', '<|endoftext|>',
  '<<s>>', '<|<|im_end|>|>', 'a<|eot_id|>b<|eot_id|>c', '<think>\nreasoning\n</think>\n\nanswer',
  '<0x41>', '▁', '▁▁ ▁', 'Ġhello', 'ĊĠ', '\u0000', '\u0001\u0002', '\u007f', '\ud83d', 'x\udc00y',
  '🇺🇸🇬🇧🇫🇷', '👨\u200d👩\u200d👧', '🏳️\u200d⚧️', '😀😃😄😁', '𝕳𝖊𝖑𝖑𝖔', '𠀀𠀁', '\u{10FFFD}', '\u{E0001}',
  'ﷺ', '﷽', 'ﬀ', 'Ǆ', 'ß', 'İstanbul', 'ΣΊΣΥΦΟΣ', 'K', 'Å',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'ababababababababababab', '--------------------', '==========',
  '....................', '                    ', '\t\t\t\t\t\t\t\t\t\t', '\n\n\n\n\n\n\n\n\n\n\n\n',
];

function pick<T>(r: () => number, a: readonly T[]): T {
  return a[Math.floor(r() * a.length)];
}

function whitespaceRun(r: () => number): string {
  const n = 1 + Math.floor(r() * 20);
  const kinds = r() < 0.5 ? [' '] : r() < 0.5 ? [' ', '\t'] : [' ', '\t', '\n', '\r\n'];
  let s = '';
  for (let i = 0; i < n; i++) s += pick(r, kinds);
  return s;
}

function digits(r: () => number): string {
  const n = 1 + Math.floor(r() * 14);
  let s = '';
  for (let i = 0; i < n; i++) s += String(Math.floor(r() * 10));
  if (r() < 0.3) s += '.' + String(Math.floor(r() * 1000));
  return s;
}

/** One random string mixing 2–12 ingredients, joined by single spaces or nothing. */
function mixed(r: () => number, specials: readonly string[]): string {
  const parts: string[] = [];
  const n = 2 + Math.floor(r() * 11);
  for (let i = 0; i < n; i++) {
    const k = r();
    if (k < 0.22) parts.push(pick(r, WORDS));
    else if (k < 0.34) parts.push(pick(r, SCRIPTS));
    else if (k < 0.42) parts.push(pick(r, EMOJI));
    else if (k < 0.48) parts.push(pick(r, CODE));
    else if (k < 0.58) parts.push(r() < 0.5 ? pick(r, NUMBERS) : digits(r));
    else if (k < 0.70) parts.push(whitespaceRun(r));
    else if (k < 0.80) parts.push(pick(r, PUNCT));
    else if (k < 0.90) parts.push(pick(r, CONTRACTIONS));
    else if (k < 0.95) parts.push(pick(r, specials));
    else parts.push(pick(r, WORDS).toUpperCase());
  }
  const sep = r() < 0.6 ? ' ' : '';
  let s = parts.join(sep);
  if (r() < 0.15) s = whitespaceRun(r) + s;
  if (r() < 0.15) s += whitespaceRun(r);
  return s;
}

/** Hand-written strings, every ingredient list, this vocabulary's special texts, then `nRandom` seeded mixes. */
export function buildCorpus(vocab: keyof typeof SPECIAL_TEXTS, nRandom: number, seed = 1234): string[] {
  const specials = SPECIAL_TEXTS[vocab];
  const r = rng(seed);
  const out = [
    ...HAND_WRITTEN, ...SCRIPTS, ...EMOJI, ...CODE, ...NUMBERS, ...SPACES, ...CONTRACTIONS,
    ...specials, ...specials.map((s) => `Hi ${s} there`), ...specials.map((s) => `${s}${s}\n${s}x`),
  ];
  for (let i = 1; i <= 20; i++) out.push(' '.repeat(i) + 'x', 'x' + '\n'.repeat(i), '\t'.repeat(i) + 'y' + ' '.repeat(i));
  for (let i = 0; i < nRandom; i++) out.push(mixed(r, specials));
  return out;
}
