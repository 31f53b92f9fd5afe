/**
 * Vitest global setup: one temp directory per test run. Every temp file of
 * the tests and of the binaries they spawn goes under it (`TMPDIR`, which
 * `os.tmpdir()` reads and children inherit), and it is removed when the run
 * ends, so a run leaves nothing in the system's temp directory (it left
 * ~300 MB of data directories before).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

export default function setup(): () => void {
  const previous = process.env["TMPDIR"]
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-test-run-"))
  process.env["TMPDIR"] = dir
  return () => {
    if (previous === undefined) delete process.env["TMPDIR"]
    else process.env["TMPDIR"] = previous
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
