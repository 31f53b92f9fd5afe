/** The `sluice` CLI as a library: settings, composition, commands. */
export * as App from "./App.js"
export * as DataDir from "./DataDir.js"
export * as Gateway from "./Gateway.js"
export * as Main from "./Main.js"
export * as Settings from "./Settings.js"
