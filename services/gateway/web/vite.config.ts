/// <reference types="vitest" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` serves the client on :5173 and proxies the API to a running gateway
// (CRM_GATEWAY, default the local runner's http://127.0.0.1:8000).
const gateway = process.env.CRM_GATEWAY ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "../gateway/static/app",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 800,
  },
  server: {
    proxy: {
      "/api": { target: gateway, changeOrigin: true },
      "/t": { target: gateway, changeOrigin: true },
      "/u": { target: gateway, changeOrigin: true },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
