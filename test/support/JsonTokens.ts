/**
 * JSON texts as token trees, for the property tests of the byte scanners
 * (`plugins/socket/test/scanner.test.ts`, `plugins/http-drain/test/DrainScanner.test.ts`):
 * build a tree of raw tokens (so a test can put any bytes anywhere: escapes,
 * broken UTF-8, control characters), render it with drawn whitespace, and
 * the string-body generators both scanners are tested with.
 */
import * as fc from "effect/FastCheck"

/** Bytes as a pasteable expression (the first 2,000 of a long text), for failure messages. */
export const show = (text: Uint8Array): string => {
  let out = ""
  for (const b of text.subarray(0, 2000)) {
    out += b === 0x5c
      ? "\\\\"
      : b === 0x22
      ? "\\\""
      : b >= 0x20 && b < 0x7f
      ? String.fromCharCode(b)
      : `\\x${b.toString(16).padStart(2, "0")}`
  }
  return `Buffer.from("${out}", "latin1")${text.length > 2000 ? `… (${text.length} bytes)` : ""}`
}

export type Node =
  | { readonly _tag: "Raw"; readonly bytes: Buffer }
  | { readonly _tag: "Object"; readonly members: ReadonlyArray<readonly [key: Buffer, value: Node]> }
  | { readonly _tag: "Array"; readonly items: ReadonlyArray<Node> }

export const utf8 = (text: string): Buffer => Buffer.from(text, "utf8")
export const bytes = (...values: ReadonlyArray<number>): Buffer => Buffer.from(values)
export const raw = (text: string | Buffer): Node => ({
  _tag: "Raw",
  bytes: typeof text === "string" ? utf8(text) : text
})
/** A string token around raw bytes (escapes and all, as they stand in the text). */
export const quoted = (body: Buffer): Buffer => Buffer.concat([utf8("\""), body, utf8("\"")])
export const str = (body: string | Buffer): Node => raw(quoted(typeof body === "string" ? utf8(body) : body))
export const key = (body: string | Buffer): Buffer => quoted(typeof body === "string" ? utf8(body) : body)
export const obj = (members: ReadonlyArray<readonly [Buffer, Node]>): Node => ({ _tag: "Object", members })
export const arr = (items: ReadonlyArray<Node>): Node => ({ _tag: "Array", items })

export const OPEN_BRACE = utf8("{")
export const CLOSE_BRACE = utf8("}")
export const OPEN_BRACKET = utf8("[")
export const CLOSE_BRACKET = utf8("]")
export const COMMA = utf8(",")
export const COLON = utf8(":")

/** Writes a node, with `ws()` between every two tokens. */
const render = (node: Node, ws: () => Buffer, out: Array<Buffer>): void => {
  switch (node._tag) {
    case "Raw":
      out.push(node.bytes)
      return
    case "Object":
      out.push(OPEN_BRACE)
      node.members.forEach(([name, value], i) => {
        if (i > 0) out.push(COMMA)
        out.push(ws(), name, ws(), COLON, ws())
        render(value, ws, out)
        out.push(ws())
      })
      if (node.members.length === 0) out.push(ws())
      out.push(CLOSE_BRACE)
      return
    case "Array":
      out.push(OPEN_BRACKET)
      node.items.forEach((item, i) => {
        if (i > 0) out.push(COMMA)
        out.push(ws())
        render(item, ws, out)
        out.push(ws())
      })
      if (node.items.length === 0) out.push(ws())
      out.push(CLOSE_BRACKET)
  }
}

/** The text of a node, with whitespace taken in turn from `spaces` before, between and after its tokens. */
export const renderTokens = (node: Node, spaces: ReadonlyArray<Buffer>): Buffer => {
  let i = 0
  const ws = () => spaces[i++ % spaces.length]!
  const out: Array<Buffer> = [ws()]
  render(node, ws, out)
  out.push(ws())
  return Buffer.concat(out)
}

/*
 * The generators take `odd`, the weight of what breaks the text (0: mostly
 * valid, 4: mostly broken); escapes, non-ASCII and broken UTF-8 in string
 * bodies come at every level.
 */

/** `fc.oneof` of weighted choices, leaving out those of weight 0. */
export const pick = <T>(
  ...choices: ReadonlyArray<readonly [weight: number, arbitrary: fc.Arbitrary<T>]>
): fc.Arbitrary<T> =>
  fc.oneof(...choices.filter(([weight]) => weight > 0).map(([weight, arbitrary]) => ({ weight, arbitrary })))

export const jsonSpaces = ["", "", "", " ", "\t", "\n", "\r", "\r\n", " \t "].map(utf8)
export const nonJsonSpaces = [bytes(0x0c), bytes(0x0b), bytes(0x00), bytes(0xc2, 0xa0), bytes(0xef, 0xbb, 0xbf)]

/** Whitespace to take in turn between tokens: mostly none or JSON's. */
export const whitespace = (odd: number) =>
  pick<ReadonlyArray<Buffer>>(
    [6, fc.constant([Buffer.alloc(0)])],
    [4, fc.array(fc.constantFrom(...jsonSpaces), { minLength: 1, maxLength: 7 })],
    [
      odd,
      fc.tuple(fc.array(fc.constantFrom(...jsonSpaces), { maxLength: 6 }), fc.constantFrom(...nonJsonSpaces)).map((
        [spaces, bad]
      ) => [...spaces, bad])
    ]
  )

/** Characters a string holds as they are (no quote, backslash or control), structural ones included. */
export const plainChars = [..." abcxyzABCXYZ0189_-/:.,{}[]'\x7f"]
export const plainText = (minLength: number, maxLength: number) =>
  fc.string({ unit: fc.constantFrom(...plainChars), minLength, maxLength })

export const escapes = [
  "\\\"",
  "\\\\",
  "\\/",
  "\\b",
  "\\f",
  "\\n",
  "\\r",
  "\\t",
  "\\u0041",
  "\\u00e9",
  "\\u00E9",
  "\\u0000",
  "\\u0001",
  "\\u001f",
  "\\u007f",
  "\\u2028",
  "\\ud800",
  "\\udfff",
  "\\ud83d\\ude00",
  "\\uD83D\\uDE00",
  "\\ud83d",
  "\\ude00\\ud83d"
].map(utf8)
export const nonAscii = ["é", "😀", "中", "\u2028", "\u00a0", "\ufeff", "\u{10ffff}"].map(utf8)
/** Bytes that are not UTF-8: `JSON.parse` of the decoded text reads each as U+FFFD. */
export const brokenUtf8 = [
  bytes(0xff),
  bytes(0xfe),
  bytes(0x80),
  bytes(0xbf),
  bytes(0xc3),
  bytes(0xe2, 0x82),
  bytes(0xf0, 0x9f, 0x98),
  bytes(0xed, 0xa0, 0x80),
  bytes(0xc0, 0xaf),
  bytes(0xc1, 0xbf),
  bytes(0xf4, 0x90, 0x80, 0x80),
  bytes(0xf8, 0x88, 0x80, 0x80, 0x80)
]
/** Raw control characters, which JSON does not allow in a string. */
export const controls = [0x00, 0x01, 0x09, 0x0a, 0x0d, 0x1f].map((b) => bytes(b))
/** What JSON does not allow in a string; a lone backslash escapes the closing quote. */
export const badInString = [
  ...["\\x41", "\\u12", "\\U0041", "\\'", "\\ ", "\\\n", "\\u00g0", "\\"].map(utf8),
  ...controls
]

export const validPiece = pick<Buffer>(
  [12, plainText(1, 4).map(utf8)],
  [4, fc.constantFrom(...escapes)],
  [3, fc.constantFrom(...nonAscii)],
  [2, fc.constantFrom(...brokenUtf8)]
)
/** A string's body in pieces; the plain ones the most frequent. */
export const mixedBody = (odd: number) =>
  fc.array(pick([21, validPiece], [odd, fc.constantFrom(...badInString)]), { minLength: 1, maxLength: 4 }).map((
    pieces
  ) => Buffer.concat(pieces))

/** A change to a whole text's bytes. */
export type Damage = (text: Buffer) => Buffer

/**
 * Weighted damage to a whole text, for `pick`: none (weight 14), or (each at
 * `hurt`, truncation and overwriting at twice that) a tail or a head added,
 * truncation, one byte overwritten, removed or inserted, the text twice.
 */
export const damages = (hurt: number): ReadonlyArray<readonly [number, fc.Arbitrary<Damage>]> => [
  [14, fc.constant((text: Buffer) => text)],
  [
    hurt,
    fc.constantFrom("x", "}", "]", ",", "{}", "\u0000", " x", "\"", "0", "\n{}", "\ufeff").map(
      (tail): Damage => (text) => Buffer.concat([text, utf8(tail)])
    )
  ],
  [
    hurt,
    fc.constantFrom("[", "x", "\ufeff", "\u0000", "\"", ",").map((head): Damage => (text) =>
      Buffer.concat([utf8(head), text])
    )
  ],
  [2 * hurt, fc.nat().map((at): Damage => (text) => text.subarray(0, at % (text.length + 1)))],
  [
    2 * hurt,
    fc.tuple(fc.nat(), fc.constantFrom(...Buffer.from("{}[],:\"\\ 0159.-eT\x00\xff", "latin1"))).map((
      [at, b]
    ): Damage =>
    (text) => {
      const out = Buffer.from(text)
      if (out.length > 0) out[at % out.length] = b
      return out
    })
  ],
  [
    hurt,
    fc.nat().map((at): Damage => (text) => {
      const i = at % (text.length + 1)
      return Buffer.concat([text.subarray(0, i), text.subarray(i + 1)])
    })
  ],
  [
    hurt,
    fc.tuple(fc.nat(), fc.constantFrom(...Buffer.from("{}[],:\"\\ 1e\x00\xc3", "latin1"))).map((
      [at, b]
    ): Damage =>
    (text) => {
      const i = at % (text.length + 1)
      return Buffer.concat([text.subarray(0, i), bytes(b), text.subarray(i)])
    })
  ],
  [hurt, fc.constant((text: Buffer) => Buffer.concat([text, text]))]
]
