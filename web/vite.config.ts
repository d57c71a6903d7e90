/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The build lands inside the Python package so the wheel ships it and the API
// serves it at "/" (with an SPA fallback for deep links).
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "../src/sentra/webui",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
  },
  server: {
    // `npm run dev` proxies the API to a local node so the UI can use same-origin paths.
    proxy: { "/api": process.env.SENTRA_DEV_API ?? "http://127.0.0.1:5099" },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
