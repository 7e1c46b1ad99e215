// Counts leaf assertions in a TAP 14 stream (subtest summary lines are not assertions)
// and prints "N passed, N failed". A non-zero tap exit with no failed assertion
// (a crashed file, a coverage shortfall) still counts as one failure, so the line never lies.
import { readFileSync } from 'node:fs'

const [file, rcArg] = process.argv.slice(2)
const lines = readFileSync(file, 'utf8').split('\n')
const openSubtests = new Map() // indent -> pending "# Subtest:" count
let passed = 0
let failed = 0
for (const line of lines) {
  const indent = line.length - line.trimStart().length
  const text = line.trimStart()
  if (text.startsWith('# Subtest')) {
    openSubtests.set(indent, (openSubtests.get(indent) ?? 0) + 1)
    continue
  }
  const m = /^(not ok|ok)\b/.exec(text)
  if (!m) continue
  const pending = openSubtests.get(indent) ?? 0
  if (pending > 0) {
    openSubtests.set(indent, pending - 1)
    continue
  }
  if (m[1] === 'ok') passed++
  else failed++
}
const rc = Number(rcArg)
if (rc !== 0 && failed === 0) failed = 1
console.log(`${passed} passed, ${failed} failed`)
process.exit(rc !== 0 || failed > 0 ? 1 : 0)
