/**
 * `npm run test:relaxed` runs the kernel suites under Bun (Node 20 has no correct relaxed SIMD) with
 * TESSERA_REQUIRE_RELAXED=1: there the relaxed-SIMD core must load and pass its known-answer check, so its
 * cases run instead of being skipped. Without the variable (plain vitest under Node) this file checks nothing.
 */
import { expect, it } from 'vitest';
import { availableVariants } from '../helpers/core.ts';

it.runIf(process.env.TESSERA_REQUIRE_RELAXED === '1')('the relaxed-SIMD core runs in this runtime (its cases are not skipped)', () => {
  expect(availableVariants()).toContain('relaxed');
});
