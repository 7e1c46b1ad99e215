import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SqliteBillingStore } from '../../src/cdr/sqlite-store.js'
import { csvSuite } from './cdr-suite.js'

// CSV export of 1,000,000 rows (OCS_TEST_CSV_ROWS to change) from SQLite, streamed over HTTP with bounded memory.
const dir = mkdtempSync(join(tmpdir(), 'ocs-cdr-csv-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

csvSuite(t, () => ({
  rows: Number(process.env.OCS_TEST_CSV_ROWS ?? 1_000_000),
  async freshStore() {
    const path = join(dir, 'billing.sqlite')
    return { store: new SqliteBillingStore(path), url: `sqlite:${path}` }
  },
}))
