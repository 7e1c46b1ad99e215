// Counts leaf assertions in a TAP 14 stream (subtest summary lines are not assertions)
// and prints "N passed, N failed". A non-zero tap exit with no failed assertion
// (a crashed file, a coverage shortfall) still counts as one failure, so the line never lies.
// Each failed assertion is listed again at the very end, with the subtests it sits in and the
// first lines of its diagnostics: CI keeps only the tail of the output, below the coverage table.
import { readFileSync } from 'node:fs'

const [file, rcArg] = process.argv.slice(2)
const lines = readFileSync(file, 'utf8').split('\n')
const openSubtests = new Map() // indent -> pending "# Subtest:" count
const names = [] // [indent, name] of the subtests enclosing the current line
const failures = []
let passed = 0
let failed = 0
for (let i = 0; i < lines.length; i++) {
  const line = lines[i]
  const indent = line.length - line.trimStart().length
  const text = line.trimStart()
  if (text.startsWith('# Subtest')) {
    openSubtests.set(indent, (openSubtests.get(indent) ?? 0) + 1)
    while (names.length > 0 && names[names.length - 1][0] >= indent) names.pop()
    names.push([indent, text.replace(/^# Subtest:?\s*/, '')])
    continue
  }
  const m = /^(not ok|ok)\b/.exec(text)
  if (!m) continue
  const pending = openSubtests.get(indent) ?? 0
  if (pending > 0) {
    openSubtests.set(indent, pending - 1)
    continue
  }
  if (m[1] === 'ok') {
    passed++
    continue
  }
  failed++
  const where = names.filter(([at]) => at < indent).map(([, name]) => name)
  const diag = []
  for (let j = i + 1; j < lines.length && diag.length < 14; j++) {
    const t = lines[j].trimStart()
    if (/^(not ok|ok)\b|^# Subtest|^\d+\.\.\d+/.test(t)) break
    if (t !== '') diag.push(lines[j])
    if (t === '...') break
  }
  failures.push([...where, text].join(' > ') + '\n' + diag.join('\n'))
}
const rc = Number(rcArg)
if (failures.length > 0) {
  console.log(`\n${failures.length} failed assertion(s):`)
  for (const f of failures) console.log(`- ${f}`)
}
if (rc !== 0 && failed === 0) failed = 1
console.log(`${passed} passed, ${failed} failed`)
process.exit(rc !== 0 || failed > 0 ? 1 : 0)
