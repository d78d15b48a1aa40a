import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Unit tests only; the browser end-to-end tests in e2e/ run under `node --test` (npm run e2e).
    include: ["test/**/*.test.ts"],
    environment: "node",
    restoreMocks: true,
  },
});
