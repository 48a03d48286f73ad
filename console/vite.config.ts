import { defineConfig } from "vite";

// The output is served by the producer (--console_dir): same origin as the API, no inline
// script or style (the page's Content-Security-Policy allows only 'self').
export default defineConfig({
  base: "/",
  build: {
    outDir: process.env.CDNWARM_CONSOLE_OUT || "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
});
