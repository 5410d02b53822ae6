import { MemoryStorage } from '../../src/storage/memory.ts';
import { storageConformance } from './conformance.ts';

storageConformance('memory', { open: async (budgetBytes) => new MemoryStorage({ budgetBytes }) });
