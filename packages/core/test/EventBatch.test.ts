/**
 * `EventBatch`: encoded rows decode to the events they were made from; joining
 * keeps order and counts per transport; a join into the commit writer's
 * scratch buffer is the commit row's JSON; and, through the real pipeline,
 * the feed's events of a commit stay right after the scratch buffer was
 * written again by the next commits (the feed decodes from the batches, not
 * from the scratch).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import { ByteWriter } from "../src/ByteWriter.js"
import type { CommittedBatch } from "../src/CommitFeed.js"
import * as EventBatch from "../src/EventBatch.js"
import { decodeBatch, encodeBatch, encodeRow, tupleToEvent } from "../src/EventRow.js"
import { EventStore } from "../src/EventStore.js"
import type { LogEvent } from "../src/LogEvent.js"
import { event, events, makeRecordingStore, type RecordingStore, startPipeline } from "./fixtures.js"

/** The events as a batch of rows, as the agent socket hands them over. */
const encoded = (list: ReadonlyArray<LogEvent>): EventBatch.EncodedEvents =>
  new EventBatch.EncodedEvents(
    list.length,
    Buffer.from(list.map(encodeRow).join(","), "utf8"),
    EventBatch.transports(list)
  )

const tricky = (prefix: string): ReadonlyArray<LogEvent> => [
  event(`${prefix} "quoted" \\ back\nslash é 😀 \ud800`, { metadata: { k: "v", "é": "\u0000" } }),
  event(`${prefix}-2`, { transport: "unix", projectId: "p", agentId: "a" })
]

describe("EventBatch", () => {
  it("encoded rows decode to the events they were made from, once", () => {
    const list = tricky("a")
    const batch = encoded(list)
    expect(EventBatch.size(batch)).toBe(2)
    expect(batch.events).toEqual(list.map((e) => JSON.parse(JSON.stringify(e))))
    expect(batch.events).toBe(batch.events)
    expect(batch.toJson().toString("utf8")).toBe(encodeBatch(list))
    expect(EventBatch.transports(batch)).toEqual([["test", 1], ["unix", 1]])
    expect(EventBatch.firstTransport(batch)).toBe("test")
  })

  it("joins object batches into objects, and anything with rows into rows, in order", () => {
    const a = events("a", 2)
    const b = tricky("b")
    const c = events("c", 1)
    const objects = EventBatch.concat([a, c])
    expect(EventBatch.isEncoded(objects)).toBe(false)
    expect(EventBatch.events(objects).map((e) => e.message)).toEqual(["a-0", "a-1", "c-0"])
    const mixed = EventBatch.concat([a, encoded(b), [], c])
    expect(EventBatch.isEncoded(mixed)).toBe(true)
    expect(EventBatch.size(mixed)).toBe(5)
    expect((mixed as EventBatch.EncodedEvents).toJson().toString("utf8")).toBe(encodeBatch([...a, ...b, ...c]))
    expect(EventBatch.transports(mixed)).toEqual([["test", 4], ["unix", 1]])
  })

  it("joins into a scratch buffer with the brackets, reusing it for the next join", () => {
    const scratch = new ByteWriter(16)
    const first = EventBatch.concat([encoded(events("a", 3)), encoded(tricky("b"))], scratch)
    expect((first as EventBatch.EncodedEvents).toJson().toString("utf8")).toBe(
      encodeBatch([...events("a", 3), ...tricky("b")])
    )
    const buffer = scratch.buffer
    const second = EventBatch.concat([encoded(events("c", 1)), encoded(events("d", 1))], scratch)
    expect((second as EventBatch.EncodedEvents).toJson().toString("utf8")).toBe(
      encodeBatch([...events("c", 1), ...events("d", 1)])
    )
    // The same memory: no commit-sized allocation per commit once it has grown.
    expect(scratch.buffer).toBe(buffer)
  })

  it.scoped("the feed's events of a commit stay right after later commits reuse the scratch buffer", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      // Like the SQLite store, keep a copy of the commit's bytes and never
      // decode the lent batch (decoding would cache its events in it).
      const rows: Array<string> = []
      const store: RecordingStore = {
        ...rec,
        store: EventStore.of({
          ...rec.store,
          append: (batch, keys) =>
            Effect.suspend(() => {
              const json = EventBatch.isEncoded(batch) ? batch.toJson().toString("utf8") : encodeBatch(batch)
              rows.push(json)
              return rec.store.append(decodeBatch(json).map(tupleToEvent), keys)
            })
        })
      }
      const { feed, ingest, release } = yield* startPipeline(store)
      const subscription = yield* PubSub.subscribe(feed)
      const batches = [tricky("x"), events("y", 3), tricky("z")]
      // Each round is one group of two batches (the durable one ends the window),
      // so each commit is joined in the scratch buffer.
      for (const list of batches) {
        yield* ingest.offer(encoded(list))
        yield* ingest.offer(encoded(events("pad", 50)), { durable: true })
      }
      // Read every commit's events only now, after all of them were written.
      const committed: Array<CommittedBatch> = []
      for (let i = 0; i < 3; i++) committed.push(yield* Queue.take(subscription))
      expect(rows).toHaveLength(3)
      const messages = committed.flatMap((c) => c.events.map((e) => e.message))
      const expected = batches.flatMap((list) => [...list, ...events("pad", 50)]).map((e) => e.message)
      expect(messages).toEqual(expected)
      // And the store got the same events.
      expect(rec.committed()).toEqual(expected)
      yield* release
    }))
})
