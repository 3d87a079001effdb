// ESLint (flat config): `npm run lint`, which `npm test` runs before the tests. Syntax-level rules only: type-aware
// rules would build a second TypeScript program, and tsc already checks the types. ESLint and typescript-eslint live
// in tools/lint (their own install, with the TypeScript 5 the parser needs; the project compiles with TypeScript 7).
import { fileURLToPath } from 'node:url';
import { globals, includeIgnoreFile, js, tseslint } from './tools/lint/index.js';

export default tseslint.config(
  // What git ignores (builds, caches, bundles, scratch folders) is not linted either.
  includeIgnoreFile(fileURLToPath(new URL('.gitignore', import.meta.url))),
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // A leading underscore marks a parameter or binding kept on purpose (a signature to match, a key dropped by rest).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
    },
  },
  // The web app and the browser example run in a browser.
  { files: ['web/src/**', 'examples/browser/**'], languageOptions: { globals: { ...globals.browser } } },
  // CommonJS config files (dependency-cruiser's) are loaded with require().
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  // Tests read JSON response bodies whose shape is what they assert.
  { files: ['test/**'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
);
