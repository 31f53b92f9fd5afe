/**
 * Enrolment against a scripted control plane on loopback: the SPEC body, the
 * identity and the 0600 token in a 0700 state dir, one-line refusals, and a
 * second enrolment replacing the first.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as AgentState from "../src/AgentState.js"
import * as Enrol from "../src/Enrol.js"
import { fakeControlPlane, httpClient, json, nextRequest, tempDir } from "./fleet-harness.js"

const mode = (path: string) => Fs.statSync(path).mode & 0o777

const answer = (agentId: string, token: string) =>
  json(201, { data: { agentId, agentToken: token, groupId: "group-7", configVersion: 7 } })

describe("sluice agent enrol", () => {
  it.scoped("posts the host's facts, then keeps the identity and a 0600 token in a 0700 state dir", () =>
    Effect.gen(function*() {
      const plane = yield* fakeControlPlane
      yield* plane.on("enrol", () => answer("agent-42", "AGT_secret_one"))
      const stateDir = Path.join(yield* tempDir("sluice-enrol-"), "agent")
      const enrolled = yield* Enrol.enrol({
        apiUrl: `${plane.url}/`,
        bootstrapToken: Redacted.make("EBT_bootstrap"),
        stateDir,
        groupSlug: "web-servers",
        version: "0.4.1",
        host: { hostname: "fw1.prod.example.com", os: "Ubuntu 24.04" }
      })
      expect(enrolled).toMatchObject({ agentId: "agent-42", groupId: "group-7", configVersion: 7 })

      const request = yield* nextRequest(plane, "enrol")
      const body: unknown = JSON.parse(request.body)
      expect(body).toEqual({
        bootstrapToken: "EBT_bootstrap",
        hostname: "fw1.prod.example.com",
        platform: "linux",
        os: "Ubuntu 24.04",
        kernel: expect.any(String),
        agentVersion: "0.4.1",
        groupSlug: "web-servers"
      })

      expect(mode(stateDir)).toBe(0o700)
      expect(mode(Path.join(stateDir, "token"))).toBe(0o600)
      expect(Fs.readFileSync(Path.join(stateDir, "token"), "utf8").trim()).toBe("AGT_secret_one")
      const state = yield* AgentState.make(stateDir)
      expect(yield* state.readIdentity).toEqual({ agentId: "agent-42", apiUrl: plane.url, groupId: "group-7" })
      expect(Redacted.value(yield* state.readToken)).toBe("AGT_secret_one")
    }).pipe(Effect.provide(httpClient)))

  it.scoped("a refused bootstrap token is one line naming the reason, and nothing is written", () =>
    Effect.gen(function*() {
      const plane = yield* fakeControlPlane
      const stateDir = yield* tempDir("sluice-enrol-")
      const error = yield* Enrol.enrol({
        apiUrl: plane.url,
        bootstrapToken: Redacted.make("EBT_expired"),
        stateDir,
        version: "0.4.1"
      }).pipe(Effect.flip)
      expect(error._tag).toBe("EnrolRefused")
      expect(error.message).toBe(
        "enrolment refused (401): the enrolment token is unknown, expired, used up or revoked"
      )
      expect(error.message).not.toContain("EBT_expired")
      expect(Fs.existsSync(Path.join(stateDir, "token"))).toBe(false)
      expect(Fs.existsSync(Path.join(stateDir, "agent.json"))).toBe(false)
    }).pipe(Effect.provide(httpClient)))

  it.scoped("an unknown group slug is named", () =>
    Effect.gen(function*() {
      const plane = yield* fakeControlPlane
      yield* plane.on("enrol", () => json(404, { error: "not_found", message: "no such group" }))
      const error = yield* Enrol.enrol({
        apiUrl: plane.url,
        bootstrapToken: Redacted.make("EBT_ok"),
        stateDir: yield* tempDir("sluice-enrol-"),
        groupSlug: "no-such-group",
        version: "0.4.1"
      }).pipe(Effect.flip)
      expect(error.message).toBe("enrolment refused (404): no group with slug 'no-such-group'")
    }).pipe(Effect.provide(httpClient)))

  it.scoped("an unreachable control plane is a clear error", () =>
    Effect.gen(function*() {
      const error = yield* Enrol.enrol({
        apiUrl: "http://127.0.0.1:1",
        bootstrapToken: Redacted.make("EBT_ok"),
        stateDir: yield* tempDir("sluice-enrol-"),
        version: "0.4.1"
      }).pipe(Effect.flip)
      expect(error._tag).toBe("ControlPlaneUnavailable")
      expect(error.message).toMatch(/^control plane unavailable \(enrolment\): /)
    }).pipe(Effect.provide(httpClient)))

  it.scoped("enrolling again replaces the identity and token and forgets the old agent's config", () =>
    Effect.gen(function*() {
      const plane = yield* fakeControlPlane
      const stateDir = yield* tempDir("sluice-enrol-")
      const options = { apiUrl: plane.url, bootstrapToken: Redacted.make("EBT_ok"), stateDir, version: "0.4.1" }
      yield* plane.on("enrol", () => answer("agent-old", "AGT_old"))
      yield* Enrol.enrol(options)
      const state = yield* AgentState.make(stateDir)
      yield* state.writeConfig({ version: 3, etag: "", text: "{}" })
      yield* plane.on("enrol", () => answer("agent-new", "AGT_new"))
      yield* Enrol.enrol(options)
      expect((yield* state.readIdentity).agentId).toBe("agent-new")
      expect(Redacted.value(yield* state.readToken)).toBe("AGT_new")
      expect((yield* state.readConfig)._tag).toBe("None")
    }).pipe(Effect.provide(httpClient)))
})

describe("the state dir", () => {
  it.scoped("a missing or damaged file is named in the error", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDir("sluice-state-")
      const state = yield* AgentState.make(stateDir)
      const missing = yield* Effect.flip(state.readIdentity)
      expect(missing.message).toBe(
        `agent state ${
          Path.join(stateDir, "agent.json")
        }: does not exist: this agent is not enrolled (run \`sluice agent enrol\` first)`
      )
      Fs.writeFileSync(Path.join(stateDir, "agent.json"), "{\"agentId\":\"\"}")
      const damaged = yield* Effect.flip(state.readIdentity)
      expect(damaged.message).toContain(`agent state ${Path.join(stateDir, "agent.json")}: is not valid: agentId`)
      Fs.writeFileSync(Path.join(stateDir, "token"), "not-a-token")
      const token = yield* Effect.flip(state.readToken)
      expect(token.message).toBe(`agent state ${Path.join(stateDir, "token")}: does not hold an AGT_ token`)
    }))

  it.scoped("a saved config whose text does not match its version file is read as version 0", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDir("sluice-state-")
      const state = yield* AgentState.make(stateDir)
      yield* state.writeConfig({ version: 5, etag: "", text: "version: 5\n" })
      expect(yield* state.readConfig).toMatchObject({ value: { version: 5, text: "version: 5\n" } })
      Fs.writeFileSync(Path.join(stateDir, "config.yaml"), "version: 6\n")
      expect(yield* state.readConfig).toMatchObject({ value: { version: 0, text: "version: 6\n" } })
    }))
})
