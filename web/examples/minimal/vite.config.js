import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

// In your app, `npm install @rcgateway/client` and drop this alias: the example lives in
// the rcgateway repository and uses the package's sources (web/client) directly.
const client = (file) => fileURLToPath(new URL(`../../client/src/${file}`, import.meta.url))

export default defineConfig({
  base: process.env.EXAMPLE_BASE || '/',
  plugins: [vue()],
  resolve: {
    alias: [
      { find: /^@rcgateway\/client\/vue$/, replacement: client('vue.js') },
      { find: /^@rcgateway\/client\/markdown$/, replacement: client('markdown.js') },
      { find: /^@rcgateway\/client$/, replacement: client('index.js') },
    ],
    dedupe: ['vue', '@microsoft/signalr'],
  },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:8080',
      '/signalr': { target: 'http://127.0.0.1:8080', ws: true },
    },
  },
})
