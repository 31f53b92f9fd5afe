/**
 * Turns the `q` filter into an FTS5 query: each word is quoted (so operators
 * and punctuation in user input are literal) and all must match.
 */

/** The FTS5 MATCH expression for `q`, or `undefined` when it has no words. */
export const ftsQuery = (q: string): string | undefined => {
  const words = q.split(/\s+/).filter((w) => w.length > 0)
  if (words.length === 0) return undefined
  return words.map((w) => `"${w.replaceAll("\"", "\"\"")}"`).join(" ")
}
