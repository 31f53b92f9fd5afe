/**
 * `@sluice/socket`: the agent socket of SPEC §1 (dialect A), NDJSON over a
 * Unix socket and over TCP, both feeding core's `Ingest`; and the client
 * that `sluice send` uses.
 */
export * as Connection from "./Connection.js"
export * as LineFramer from "./LineFramer.js"
export * as Message from "./Message.js"
export * as SocketClient from "./SocketClient.js"
export * as SocketMetrics from "./SocketMetrics.js"
export * as TcpTransport from "./TcpTransport.js"
export * as UnixTransport from "./UnixTransport.js"
