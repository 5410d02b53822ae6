/** Model names parsed as Ollama does: defaults registry.ollama.ai / library / latest; escapes rejected. */
import { describe, expect, it } from 'vitest';
import { InvalidModelNameError, parseModelName } from '../../src/store/name.ts';

describe('parseModelName', () => {
  it('fills in host, namespace and tag as Ollama does, and lists names the way `ollama list` shows them', () => {
    expect(parseModelName('llama3.2')).toEqual({ host: 'registry.ollama.ai', namespace: 'library', model: 'llama3.2', tag: 'latest', full: 'llama3.2:latest' });
    expect(parseModelName('llama3.2:1b')).toMatchObject({ model: 'llama3.2', tag: '1b', full: 'llama3.2:1b' });
    expect(parseModelName('library/x:q4_K_M')).toMatchObject({ namespace: 'library', model: 'x', tag: 'q4_K_M', full: 'x:q4_K_M' });
    expect(parseModelName('me/x')).toMatchObject({ namespace: 'me', model: 'x', full: 'me/x:latest' });
    expect(parseModelName('hf.co/bartowski/Llama-3.2-1B-GGUF:Q4_K_M')).toMatchObject({ host: 'hf.co', namespace: 'bartowski', model: 'Llama-3.2-1B-GGUF', tag: 'Q4_K_M' });
    expect(parseModelName('127.0.0.1:5000/ns/m:v1')).toMatchObject({ host: '127.0.0.1:5000', namespace: 'ns', model: 'm', tag: 'v1', full: '127.0.0.1:5000/ns/m:v1' });
  });

  it('rejects names that could leave the store or that are malformed, with a named error', () => {
    for (const bad of ['', '..', '../x', 'a/../b', '/etc/passwd', 'x:../../y', 'a/b/c/d', 'a:b:c', 'bad name', 'tiny\u0000', '.hidden', 'x:', 'ns//m', 'x'.repeat(700), 'h:99x/n/m']) {
      expect(() => parseModelName(bad), JSON.stringify(bad)).toThrow(InvalidModelNameError);
    }
  });
});
