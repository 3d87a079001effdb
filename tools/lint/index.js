// What the root eslint.config.js needs, resolved from this folder's own install (beside its TypeScript 5).
export { includeIgnoreFile } from '@eslint/compat';
export { default as js } from '@eslint/js';
export { default as globals } from 'globals';
export { default as tseslint } from 'typescript-eslint';
