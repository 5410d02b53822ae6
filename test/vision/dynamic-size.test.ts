/**
 * Block input sizes of the dynamic-resolution towers (src/vision/dynamic-size.ts) against values worked out by
 * hand from Hugging Face's Qwen2-VL `smart_resize` and PixtralImageProcessor, and the invariants every size must
 * keep (multiples of the unit, within the pixel budget, aspect ratio kept to a unit).
 */
import { describe, expect, it } from 'vitest';
import { dynamicSize, type DynamicSizeRule } from '../../src/vision/dynamic-size.ts';

const QWEN: DynamicSizeRule = { kind: 'qwen', unit: 28, maxSide: 0, maxPixels: 12845056, minPixels: 3136 };
const PIXTRAL: DynamicSizeRule = { kind: 'pixtral', unit: 16, maxSide: 1024, maxPixels: 1024 * 1024 };

describe('dynamicSize', () => {
  it('qwen: smart_resize', () => {
    // round(1080/28)·28 = 1092, round(1920/28)·28 = 1932, within [min, max]
    expect(dynamicSize(1920, 1080, QWEN)).toEqual({ width: 1932, height: 1092 });
    // max 1024·28²: β = √(1920·1080 / 802816); 1080/β = √(0.5625·802816) = 672 exactly → 672, ⌊1920/β/28⌋ = ⌊42.67⌋ → 1176
    expect(dynamicSize(1920, 1080, { ...QWEN, maxPixels: 1024 * 28 * 28 })).toEqual({ width: 1176, height: 672 });
    // 20×20 below min 3136: β = √(3136/400) = 2.8; ⌈56/28⌉·28 = 56
    expect(dynamicSize(20, 20, QWEN)).toEqual({ width: 56, height: 56 });
  });

  it('pixtral: longest side ≤ maxSide, sides rounded up to the unit, never upscaled', () => {
    expect(dynamicSize(2048, 1000, PIXTRAL)).toEqual({ width: 1024, height: 512 }); // ratio 2: 1024×500 → 1024×512
    expect(dynamicSize(100, 37, PIXTRAL)).toEqual({ width: 112, height: 48 });
    expect(dynamicSize(5000, 5000, PIXTRAL)).toEqual({ width: 1024, height: 1024 });
  });

  it('invariants over many sizes', () => {
    for (const rule of [QWEN, { ...QWEN, maxPixels: 32 * 32, unit: 8, minPixels: 256 }, PIXTRAL, { ...PIXTRAL, unit: 8, maxSide: 32, maxPixels: 1024 }]) {
      for (const [w, h] of [[1, 1], [5000, 5000], [5000, 3], [3, 5000], [640, 480], [33, 17], [24, 16]] as const) {
        const s = dynamicSize(w, h, rule);
        expect(s.width % rule.unit, `${w}×${h}`).toBe(0);
        expect(s.height % rule.unit).toBe(0);
        expect(s.width * s.height).toBeLessThanOrEqual(rule.maxPixels);
        if (Math.min(w, h) >= 4 * rule.unit && Math.max(w, h) / Math.min(w, h) < 4) {
          expect(Math.abs(s.width / s.height - w / h) / (w / h)).toBeLessThan(0.35);
        }
      }
    }
    expect(dynamicSize(24, 16, { kind: 'qwen', unit: 8, maxSide: 32, maxPixels: 1024 })).toEqual({ width: 24, height: 16 });
  });
});
