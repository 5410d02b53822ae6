/** Structured output: JSON Schema → grammar → token masks; tool calls through the same grammar. */
export { InvalidSchemaError, GrammarError, GrammarViolationError } from './errors.ts';
export { GrammarBuilder, utf8Sequences, type Grammar } from './grammar.ts';
export { compileJsonSchema, jsonObjectGrammar, type JsonSchema } from './json-schema.ts';
export { GrammarAutomaton } from './automaton.ts';
export { TokenTrie } from './token-trie.ts';
export { GrammarConstraint, TokenMasker } from './constraint.ts';
export { parseToolCalls, toolCallGrammar, validateTools, type ToolCall, type ToolChoice, type ToolDefinition } from './tools.ts';
export { structuredOutput, type OutputFormat, type StructuredOutputRequest } from './structured.ts';
