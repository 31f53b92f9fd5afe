#!/usr/bin/env node
/**
 * The `sluice` binary. With no arguments it runs `sluice up`. Operator
 * errors (a bad setting, a taken port) print one line and exit 2.
 */
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import { cli, isOperatorError } from "./Main.js"

const argv = process.argv.length <= 2 ? [...process.argv, "up"] : process.argv

cli(argv).pipe(
  Effect.catchIf(ValidationError.isValidationError, () =>
    Effect.sync(() => {
      process.exitCode = 2
    })),
  Effect.catchIf(isOperatorError, (error) =>
    Effect.sync(() => {
      process.stderr.write(`sluice: ${error.message}\n`)
      process.exitCode = 2
    })),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disablePrettyLogger: false })
)
