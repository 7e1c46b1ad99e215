import t from 'tap'
import { parseMoney, formatMoney } from '../../src/lib/money.js'

t.test('decimal strings ↔ integer micro-units', async (t) => {
  const cases: Array<[string, bigint, string]> = [
    ['0', 0n, '0.000000'],
    ['12.5', 12_500_000n, '12.500000'],
    ['12.50', 12_500_000n, '12.500000'],
    ['0.000001', 1n, '0.000001'],
    ['-3.25', -3_250_000n, '-3.250000'],
    ['999999999.999999', 999_999_999_999_999n, '999999999.999999'],
  ]
  for (const [text, micro, formatted] of cases) {
    t.equal(parseMoney(text), micro, `parse ${text}`)
    t.equal(formatMoney(micro), formatted, `format ${micro}`)
    t.equal(parseMoney(formatMoney(micro)), micro, `round trip ${text}`)
  }
  t.equal(formatMoney(parseMoney('0.1') + parseMoney('0.2')), '0.300000', '0.1 + 0.2 is exactly 0.3')
})

t.test('refuses what is not a decimal amount', async (t) => {
  for (const bad of ['', 'abc', '1.2345678', '1e3', '1,5', '.5', '0x10', ' 1 2']) {
    t.throws(() => parseMoney(bad), { code: 'OCS_ERR_MONEY_FORMAT' }, `"${bad}"`)
  }
})
