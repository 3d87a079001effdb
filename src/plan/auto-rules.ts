// auto's rule now lives in decide.ts; this name stays so that imports of plan/auto-rules.js keep working.
export * from './decide.js';
