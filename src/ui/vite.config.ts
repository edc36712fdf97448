import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// Built into dist/ui and served by registerUi under /ui/; nothing is fetched from outside at runtime.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/ui/',
  build: {
    outDir: fileURLToPath(new URL('../../dist/ui', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // Two pages: the UI, and the login page (served without credentials, so it loads none of the UI's code).
    rollupOptions: {
      input: {
        main: fileURLToPath(new URL('./index.html', import.meta.url)),
        login: fileURLToPath(new URL('./login.html', import.meta.url)),
      },
    },
  },
  server: {
    // `vite dev` against a running `uniprof serve`: the API on its default port.
    proxy: { '/api': 'http://127.0.0.1:4320' },
  },
});
