/**
 * The fleet's two secrets (SPEC §4): enrolment tokens (`EBT_`) and agent
 * tokens (`AGT_`), each the prefix and 32 random bytes in base64url. Only
 * their SHA-256 (hex) is ever stored, so a lookup by hash is the comparison
 * (an equal hash found through a unique index) and a leaked database holds
 * no usable token.
 */
import * as TokenVerifier from "@sluice/core/TokenVerifier"
import { randomBytes } from "node:crypto"

/** How every enrolment token starts. */
export const enrolmentPrefix = "EBT_"

/** How every agent token starts. */
export const agentPrefix = "AGT_"

const mint = (prefix: string): string => prefix + randomBytes(32).toString("base64url")

/** A new enrolment token. */
export const newEnrolmentToken = (): string => mint(enrolmentPrefix)

/** A new agent token. */
export const newAgentToken = (): string => mint(agentPrefix)

/** What is stored of a token: its SHA-256 in hex. */
export const hash = (token: string): string => TokenVerifier.sha256(token)
