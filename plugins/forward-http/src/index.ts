/** Forwarding to an upstream HTTP drain. */
export * as HttpForwarder from "./HttpForwarder.js"
