import t from 'tap'
import { mkdtempSync, statSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { SecretBox } from '../../src/lib/secrets.js'

t.test('seal/open round trip; tampering and a wrong key are refused', async (t) => {
  const box = SecretBox.withKey(randomBytes(32))
  for (const pw of ['', 'alicepw', 'ünïcødé pässwörd', 'x'.repeat(128)]) t.equal(box.open(box.seal(pw)), pw)
  const sealed = box.seal('alicepw')
  t.not(sealed, box.seal('alicepw'), 'a fresh IV each time')
  t.notMatch(sealed, /alicepw/)
  const parts = sealed.split('.')
  const flipped = Buffer.from(parts[3], 'base64url')
  flipped[0] ^= 1
  t.throws(() => box.open([parts[0], parts[1], parts[2], flipped.toString('base64url')].join('.')))
  t.throws(() => SecretBox.withKey(randomBytes(32)).open(sealed), 'another key cannot open it')
  t.throws(() => box.open('garbage'), { code: 'OCS_ERR_VALIDATION' })
})

t.test('key file created once with mode 0600; a configured key wins', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ocs-secrets-'))
  const a = await SecretBox.init(dir)
  const file = join(dir, 'secrets.key')
  t.equal(statSync(file).mode & 0o777, 0o600)
  const key = readFileSync(file, 'utf8')
  const b = await SecretBox.init(dir)
  t.equal(readFileSync(file, 'utf8'), key, 'not regenerated')
  t.equal(b.open(a.seal('pw')), 'pw')
  const configured = randomBytes(32).toString('base64')
  const c = await SecretBox.init(dir, configured)
  t.throws(() => c.open(a.seal('pw')))
  await t.rejects(SecretBox.init(dir, 'c2hvcnQ='), { code: 'OCS_ERR_CONFIG' })
})
