import { defineConfig } from "vitest/config"

// Two projects: `default` needs nothing but this machine; `services` talks to
// the local Postgres and NATS (run by `npm run test:services` and `.ci/run`).
// Both keep every temp file under one directory per run, removed at its end.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "default",
          include: ["packages/*/test/**/*.test.ts", "plugins/*/test/**/*.test.ts", "test/**/*.test.ts"],
          exclude: ["**/*.services.test.ts", "**/node_modules/**"],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          globalSetup: ["test/support/tmpdir.ts"]
        }
      },
      {
        test: {
          name: "services",
          include: ["**/*.services.test.ts"],
          exclude: ["**/node_modules/**"],
          testTimeout: 60_000,
          globalSetup: ["test/support/tmpdir.ts"]
        }
      }
    ]
  }
})
