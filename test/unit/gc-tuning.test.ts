import t from 'tap'
import { execFileSync } from 'node:child_process'
import { writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../../src/config/load.js'

const CHILD = fileURLToPath(new URL('../helpers/gc-churn.ts', import.meta.url))

/** How far the old generation grows past its live size before the next full collection, with `percent`. */
function growth(percent: number): number {
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD, String(percent)], { encoding: 'utf8' })
  const r = JSON.parse(out.trim().split('\n').pop()!) as { major: boolean; growth: number }
  if (!r.major) throw new Error(`no full collection happened: ${out}`)
  return r.growth
}

t.test('scheduling.heapGrowingPercent: 400 by default, from the file or OCS_HEAP_GROWING_PERCENT; 0 = V8\'s own', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ocs-gc-'))
  const empty = join(dir, 'empty.yaml')
  writeFileSync(empty, '')
  t.equal(loadConfig({ env: {}, file: empty }).scheduling.heapGrowingPercent, 400)
  t.equal(loadConfig({ env: { OCS_HEAP_GROWING_PERCENT: '0' }, file: empty }).scheduling.heapGrowingPercent, 0)
  const f = join(dir, 'ocs.yaml')
  writeFileSync(f, 'scheduling:\n  heapGrowingPercent: 150\n')
  t.equal(loadConfig({ env: {}, file: f }).scheduling.heapGrowingPercent, 150)
  t.throws(() => loadConfig({ env: { OCS_HEAP_GROWING_PERCENT: '-1' }, file: empty }), 'a negative percent is refused')
})

t.test('the setting reaches V8: the heap grows ~1 + percent/100 times its live size before the next full collection', async (t) => {
  // V8's own factor is at most 4 on this kind of machine (about 5× with the young generation);
  // 900 must give about 10×.
  const own = growth(0)
  const wide = growth(900)
  t.ok(own < 8, `V8's own choice: ${own.toFixed(2)}×`)
  t.ok(wide > 9, `with 900: ${wide.toFixed(2)}×`)
})
