import t from 'tap'
import { startFileCore } from '../helpers/core.js'
import { coreSuite } from './core-suite.js'

const { client, core } = await startFileCore(t)

coreSuite(t, () => ({ core, client }))
