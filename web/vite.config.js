import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import Components from 'unplugin-vue-components/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'

// The build is committed (web/dist) and embedded in the gateway binary, and
// scripts/web-check.sh rebuilds it to check it matches the sources: keep the output
// deterministic (no timestamps, no absolute paths) and small (Element Plus components
// are imported one by one with their own CSS).
export default defineConfig({
  base: '/',
  plugins: [
    vue(),
    Components({
      dts: false,
      resolvers: [ElementPlusResolver({ importStyle: 'css' })],
    }),
  ],
  build: {
    outDir: process.env.WEB_OUT_DIR || 'dist',
    emptyOutDir: true,
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 800,
  },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:8080',
      '/signalr': { target: 'http://127.0.0.1:8080', ws: true },
    },
  },
})
