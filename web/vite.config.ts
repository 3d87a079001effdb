import { defineConfig } from 'vite';

// Built by `npm run build` into dist/web, which `tl serve` serves at /. Relative asset URLs so it works under any prefix.
export default defineConfig({
  base: './',
  build: { target: 'es2022', sourcemap: false, assetsInlineLimit: 0 },
  server: { proxy: { '/v1': 'http://127.0.0.1:8765' } },
});
