/**
 * The built-in action handlers of every agent, as one registry layer:
 * `restart_pipeline`, `reload_config`, `rotate_token` (through
 * `PipelineControl`) and `upgrade_agent` (the configured upgrade command,
 * then a restart through `Restarter`). `shell` comes from its plugin.
 */
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Layer from "effect/Layer"
import * as ActionHandlers from "../ActionHandlers.js"
import type { AgentInfo, PipelineControl } from "../AgentControl.js"
import type { Restarter } from "../Restart.js"
import * as Upgrade from "../Upgrade.js"
import * as Pipeline from "./Pipeline.js"

/** Settings of the built-ins. */
export interface BuiltinOptions {
  readonly upgrade?: Partial<Upgrade.UpgradeOptions>
}

/** The built-in handlers. */
export const handlers = (
  options: BuiltinOptions = {}
): ReadonlyArray<
  ActionHandlers.ActionHandler<
    PipelineControl | AgentInfo | Restarter | CommandExecutor.CommandExecutor | FileSystem.FileSystem
  >
> => [...Pipeline.handlers, Upgrade.handler({ ...Upgrade.defaultOptions, ...options.upgrade })]

/** A registry of the built-ins; plugins add theirs with `ActionHandlers.extend`. */
export const layer = (
  options: BuiltinOptions = {}
): Layer.Layer<
  ActionHandlers.ActionHandlers,
  never,
  PipelineControl | AgentInfo | Restarter | CommandExecutor.CommandExecutor | FileSystem.FileSystem
> => ActionHandlers.layer(handlers(options))
