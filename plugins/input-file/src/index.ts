/**
 * `@sluice/input-file`: the `file` agent input. It tails files named by
 * absolute paths and globs inside the agent's allowed directories, one event
 * per complete line, and checkpoints its positions so that after a stop, a
 * crash or a rotation nothing is lost and, with a store that dedupes by
 * idempotency key, nothing is stored twice (see `FileInput` and
 * docs/inputs.md).
 */
export * as Checkpoint from "./Checkpoint.js"
export * as FileInput from "./FileInput.js"
export * as Glob from "./Glob.js"
export * as Lines from "./Lines.js"
