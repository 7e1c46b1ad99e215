import t from 'tap'
import { startPostgres, type TestPostgres } from '../helpers/postgres.js'
import { PostgresBillingStore } from '../../src/cdr/postgres-store.js'
import { csvSuite } from './cdr-suite.js'

// CSV export of 1,000,000 rows (OCS_TEST_CSV_ROWS to change) from PostgreSQL, streamed over HTTP with bounded memory.
let server: TestPostgres
t.before(async () => {
  server = await startPostgres()
})
t.teardown(() => server.stop())

csvSuite(t, () => ({
  rows: Number(process.env.OCS_TEST_CSV_ROWS ?? 1_000_000),
  async freshStore() {
    const store = new PostgresBillingStore(server.url)
    await store.migrate()
    return { store, url: server.url }
  },
}))
