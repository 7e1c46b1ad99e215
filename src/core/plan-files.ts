import { readdirSync, readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import type { BalanceStore } from '../balance/store.js'
import { compilePlan, PlanError, type PlanDocument } from '../rating/plan.js'

/**
 * Plans kept as files (YAML or JSON, one plan per file) in a directory, e.g. config/plans/ under
 * version control. At start every file is validated (a bad one stops the start with the file and
 * the path inside it) and stored unless that exact version is already stored, so every node
 * converges on the same versions however many of them start with the same files.
 */
export async function loadPlanFiles(store: BalanceStore, dir: string): Promise<string[]> {
  if (!existsSync(dir)) return []
  const files = readdirSync(dir).filter((f) => /\.(ya?ml|json)$/i.test(f)).sort()
  const docs: Array<{ file: string; doc: PlanDocument }> = []
  for (const file of files) {
    const text = readFileSync(join(dir, file), 'utf8')
    let doc: PlanDocument
    try {
      doc = (/\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text)) as PlanDocument
    } catch (err) {
      throw new PlanError(`${join(dir, file)}: not valid ${/\.json$/i.test(file) ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`)
    }
    try {
      compilePlan(doc)
    } catch (err) {
      throw new PlanError(`${join(dir, file)}: ${(err as Error).message}`)
    }
    docs.push({ file, doc })
  }
  const stored = await store.loadPlanVersions()
  const loaded: string[] = []
  for (const { file, doc } of docs) {
    const plan = compilePlan(doc)
    const same = stored.get(plan.id)?.some((p) => p.version === plan.version)
    if (same) continue
    await store.putPlan(doc)
    loaded.push(`${file}: plan ${plan.id} version ${plan.version}`)
  }
  return loaded
}
