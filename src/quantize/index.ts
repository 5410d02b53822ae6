export { QUANT_TARGETS, type QuantTarget, quantTarget } from './ftypes.ts';
export { QuantizeError, type QuantizeResult, quantizeGguf } from './file.ts';
export { isQuantizable, type PlanModel, type PlanTensor, planTypes, useMoreBits } from './plan.ts';
