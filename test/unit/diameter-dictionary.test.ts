// The Diameter dictionaries are data (dictionaries/diameter/*.json): every entry well-formed and
// sourced, the AVPs real Gy/Ro clients send present with the right code/vendor/type/M bit, and a
// malformed dictionary stops the load with one clear error.
import { readFileSync, readdirSync } from 'node:fs'
import t from 'tap'
import { DiameterDictionaryError, DiameterErrorCodes } from '../../src/diameter/errors.js'
import {
  createDictionary,
  defaultDictionary,
  loadDictionary,
  type DictionaryFile,
} from '../../src/diameter/dictionary.js'
import { AVP_TYPES } from '../../src/diameter/avp-types.js'

const DIR = new URL('../../dictionaries/diameter/', import.meta.url)
const dict = defaultDictionary()

t.test('all dictionary files load', async (t) => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort()
  t.same(files, ['3gpp-ts29061.json', '3gpp-ts29212.json', '3gpp-ts32299.json', 'base.json', 'credit-control.json', 'nasreq.json'])
  let total = 0
  for (const f of files) {
    const data = JSON.parse(readFileSync(new URL(f, DIR), 'utf8')) as DictionaryFile
    t.equal(`${data.name}.json`, f, `${f}: name matches the file`)
    total += data.avps.length
    for (const a of data.avps) {
      if (!/^(RFC \d+|TS \d+\.\d+) §\d+(\.\d+)*/.test(a.source)) t.fail(`${f}: ${a.name} source "${a.source}" does not name a spec section`)
      if (!AVP_TYPES.includes(a.type)) t.fail(`${f}: ${a.name} type ${a.type}`)
      if (a.vendorId !== 0 && a.vendorId !== 10415) t.fail(`${f}: ${a.name} vendor ${a.vendorId}`)
    }
  }
  t.equal(dict.avpCount, total, 'every AVP of every file is in the dictionary')
  t.ok(total > 300, `${total} AVPs`)
  t.same(dict.files, ['3gpp-ts29061', '3gpp-ts29212', '3gpp-ts32299', 'base', 'credit-control', 'nasreq'])
  t.same(loadDictionary().avpCount, total, 'loadDictionary() reads the same directory')
})

t.test('commands and applications', async (t) => {
  const expected: Array<[number, string, string]> = [
    [257, 'CER', 'CEA'],
    [258, 'RAR', 'RAA'],
    [272, 'CCR', 'CCA'],
    [274, 'ASR', 'ASA'],
    [275, 'STR', 'STA'],
    [280, 'DWR', 'DWA'],
    [282, 'DPR', 'DPA'],
  ]
  for (const [code, req, ans] of expected) {
    const c = dict.command(code)
    t.same([c?.requestAbbrev, c?.answerAbbrev], [req, ans], `${code}`)
    t.equal(dict.commandByName(req)?.code, code)
    t.equal(dict.commandByName(ans.toLowerCase())?.code, code)
  }
  t.equal(dict.commandByName('Credit-Control')?.applicationId, 4)
  t.equal(dict.application(4)?.name, 'Diameter Credit Control Application')
  t.equal(dict.vendorName(10415), '3GPP')
})

t.test('the AVPs Gy/Ro clients send', async (t) => {
  // name, code, vendor, type, M bit we set
  const expected: Array<[string, number, number, string, boolean]> = [
    ['Session-Id', 263, 0, 'UTF8String', true],
    ['Origin-Host', 264, 0, 'DiameterIdentity', true],
    ['Result-Code', 268, 0, 'Unsigned32', true],
    ['Failed-AVP', 279, 0, 'Grouped', true],
    ['Product-Name', 269, 0, 'UTF8String', false],
    ['Event-Timestamp', 55, 0, 'Time', true],
    ['Host-IP-Address', 257, 0, 'Address', true],
    ['CC-Request-Type', 416, 0, 'Enumerated', true],
    ['CC-Request-Number', 415, 0, 'Unsigned32', true],
    ['Subscription-Id', 443, 0, 'Grouped', true],
    ['Subscription-Id-Type', 450, 0, 'Enumerated', true],
    ['Subscription-Id-Data', 444, 0, 'UTF8String', true],
    ['Multiple-Services-Credit-Control', 456, 0, 'Grouped', true],
    ['Rating-Group', 432, 0, 'Unsigned32', true],
    ['Service-Identifier', 439, 0, 'Unsigned32', true],
    ['Requested-Service-Unit', 437, 0, 'Grouped', true],
    ['Used-Service-Unit', 446, 0, 'Grouped', true],
    ['Granted-Service-Unit', 431, 0, 'Grouped', true],
    ['CC-Time', 420, 0, 'Unsigned32', true],
    ['CC-Total-Octets', 421, 0, 'Unsigned64', true],
    ['CC-Input-Octets', 412, 0, 'Unsigned64', true],
    ['CC-Output-Octets', 414, 0, 'Unsigned64', true],
    ['CC-Service-Specific-Units', 417, 0, 'Unsigned64', true],
    ['Validity-Time', 448, 0, 'Unsigned32', true],
    ['Final-Unit-Indication', 430, 0, 'Grouped', true],
    ['Tariff-Time-Change', 451, 0, 'Time', true],
    ['Tariff-Change-Usage', 452, 0, 'Enumerated', true],
    ['Requested-Action', 436, 0, 'Enumerated', true],
    ['Cost-Information', 423, 0, 'Grouped', true],
    ['Value-Digits', 447, 0, 'Integer64', true],
    ['User-Equipment-Info', 458, 0, 'Grouped', false],
    ['Called-Station-Id', 30, 0, 'UTF8String', true],
    ['Time-Quota-Threshold', 868, 10415, 'Unsigned32', true],
    ['Volume-Quota-Threshold', 869, 10415, 'Unsigned32', true],
    ['Quota-Holding-Time', 871, 10415, 'Unsigned32', true],
    ['Reporting-Reason', 872, 10415, 'Enumerated', true],
    ['Trigger', 1264, 10415, 'Grouped', true],
    ['Trigger-Type', 870, 10415, 'Enumerated', true],
    ['Service-Information', 873, 10415, 'Grouped', true],
    ['PS-Information', 874, 10415, 'Grouped', true],
    ['IMS-Information', 876, 10415, 'Grouped', true],
    ['SMS-Information', 2000, 10415, 'Grouped', true],
    ['Calling-Party-Address', 831, 10415, 'UTF8String', true],
    ['Called-Party-Address', 832, 10415, 'UTF8String', true],
    ['AoC-Request-Type', 2055, 10415, 'Enumerated', true],
    ['PDP-Address', 1227, 10415, 'Address', true],
    ['SGSN-Address', 1228, 10415, 'Address', true],
    ['GGSN-Address', 847, 10415, 'Address', true],
    ['3GPP-Charging-Id', 2, 10415, 'Unsigned32', false],
    ['3GPP-PDP-Type', 3, 10415, 'Enumerated', false],
    ['3GPP-NSAPI', 10, 10415, 'OctetString', false],
    ['3GPP-Selection-Mode', 12, 10415, 'UTF8String', false],
    ['3GPP-Charging-Characteristics', 13, 10415, 'UTF8String', false],
    ['3GPP-SGSN-MCC-MNC', 18, 10415, 'UTF8String', false],
    ['3GPP-RAT-Type', 21, 10415, 'OctetString', false],
    ['3GPP-User-Location-Info', 22, 10415, 'OctetString', false],
    ['3GPP-MS-TimeZone', 23, 10415, 'OctetString', false],
    ['QoS-Information', 1016, 10415, 'Grouped', true],
    ['QoS-Class-Identifier', 1028, 10415, 'Enumerated', true],
    ['Allocation-Retention-Priority', 1034, 10415, 'Grouped', false],
    ['Priority-Level', 1046, 10415, 'Unsigned32', false],
    ['APN-Aggregate-Max-Bitrate-UL', 1041, 10415, 'Unsigned32', false],
    ['APN-Aggregate-Max-Bitrate-DL', 1040, 10415, 'Unsigned32', false],
    ['Max-Requested-Bandwidth-UL', 516, 10415, 'Unsigned32', true],
  ]
  for (const [name, code, vendorId, type, mandatory] of expected) {
    const byName = dict.avpByName(name)
    t.same([byName?.code, byName?.vendorId, byName?.type, byName?.mandatory], [code, vendorId, type, mandatory], name)
    t.equal(dict.avp(code, vendorId), byName, `${name} by (vendor, code)`)
  }
  t.equal(dict.avp(2, 0), undefined, 'vendor matters: code 2 vendor 0 is not 3GPP-Charging-Id')
  t.equal(dict.avpByName('session-id')?.code, 263, 'names are case-insensitive as a fallback')
  t.equal(dict.avpByName('No-Such-AVP'), undefined)
})

t.test('enumerated values', async (t) => {
  const values: Array<[string, string, number]> = [
    ['CC-Request-Type', 'INITIAL_REQUEST', 1],
    ['CC-Request-Type', 'UPDATE_REQUEST', 2],
    ['CC-Request-Type', 'TERMINATION_REQUEST', 3],
    ['CC-Request-Type', 'EVENT_REQUEST', 4],
    ['Requested-Action', 'DIRECT_DEBITING', 0],
    ['Requested-Action', 'REFUND_ACCOUNT', 1],
    ['Requested-Action', 'CHECK_BALANCE', 2],
    ['Requested-Action', 'PRICE_ENQUIRY', 3],
    ['Subscription-Id-Type', 'END_USER_E164', 0],
    ['Subscription-Id-Type', 'END_USER_IMSI', 1],
    ['Subscription-Id-Type', 'END_USER_SIP_URI', 2],
    ['Subscription-Id-Type', 'END_USER_NAI', 3],
    ['Final-Unit-Action', 'TERMINATE', 0],
    ['Final-Unit-Action', 'REDIRECT', 1],
    ['Final-Unit-Action', 'RESTRICT_ACCESS', 2],
    ['Reporting-Reason', 'THRESHOLD', 0],
    ['Reporting-Reason', 'QHT', 1],
    ['Reporting-Reason', 'FINAL', 2],
    ['Reporting-Reason', 'QUOTA_EXHAUSTED', 3],
    ['Reporting-Reason', 'VALIDITY_TIME', 4],
    ['Reporting-Reason', 'RATING_CONDITION_CHANGE', 6],
    ['Reporting-Reason', 'FORCED_REAUTHORISATION', 7],
    ['Redirect-Address-Type', 'URL', 2],
    ['Redirect-Address-Type', 'SIP_URI', 3],
    ['Multiple-Services-Indicator', 'MULTIPLE_SERVICES_NOT_SUPPORTED', 0],
    ['Multiple-Services-Indicator', 'MULTIPLE_SERVICES_SUPPORTED', 1],
    ['Disconnect-Cause', 'REBOOTING', 0],
    ['Disconnect-Cause', 'BUSY', 1],
    ['Disconnect-Cause', 'DO_NOT_WANT_TO_TALK_TO_YOU', 2],
    ['Termination-Cause', 'DIAMETER_LOGOUT', 1],
    ['Termination-Cause', 'DIAMETER_ADMINISTRATIVE', 4],
    ['Termination-Cause', 'DIAMETER_SESSION_TIMEOUT', 8],
    ['Auth-Session-State', 'NO_STATE_MAINTAINED', 1],
    ['CC-Unit-Type', 'TIME', 0],
    ['Tariff-Change-Usage', 'UNIT_AFTER_TARIFF_CHANGE', 1],
    ['3GPP-PDP-Type', 'IPv4v6', 3],
    ['Trigger-Type', 'CHANGE_IN_RAT', 4],
    ['AoC-Request-Type', 'AoC_NOT_REQUESTED', 0],
    ['User-Equipment-Info-Type', 'MAC', 1],
    ['Result-Code', 'DIAMETER_SUCCESS', 2001],
    ['Result-Code', 'DIAMETER_TOO_BUSY', 3004],
    ['Result-Code', 'DIAMETER_UNKNOWN_PEER', 3010],
    ['Result-Code', 'DIAMETER_MISSING_AVP', 5005],
    ['Result-Code', 'DIAMETER_INVALID_AVP_LENGTH', 5014],
    ['Result-Code', 'DIAMETER_END_USER_SERVICE_DENIED', 4010],
    ['Result-Code', 'DIAMETER_CREDIT_CONTROL_NOT_APPLICABLE', 4011],
    ['Result-Code', 'DIAMETER_CREDIT_LIMIT_REACHED', 4012],
    ['Result-Code', 'DIAMETER_USER_UNKNOWN', 5030],
    ['Result-Code', 'DIAMETER_RATING_FAILED', 5031],
  ]
  for (const [avp, name, value] of values) {
    t.equal(dict.enumValue(avp, name), value, `${avp} ${name}`)
    t.equal(dict.enumName(avp, value), name, `${avp} ${value}`)
  }
})

function file(avps: DictionaryFile['avps'], extra: Partial<DictionaryFile> = {}): DictionaryFile {
  return { name: 'bad', source: 'test', avps, ...extra }
}
const ok = { name: 'A-B', code: 1, vendorId: 0, type: 'Unsigned32', mandatory: true, source: 'RFC 1 §1' } as const

t.test('malformed dictionaries are refused at load', async (t) => {
  const bad: Array<[string, DictionaryFile[]]> = [
    ['unknown type', [file([{ ...ok, type: 'Integer16' as never }])]],
    ['missing source', [file([{ ...ok, source: '' }])]],
    ['code 0', [file([{ ...ok, code: 0 }])]],
    ['negative vendor', [file([{ ...ok, vendorId: -1 }])]],
    ['mandatory not boolean', [file([{ ...ok, mandatory: 'yes' as never }])]],
    ['duplicate code+vendor', [file([ok, { ...ok, name: 'C-D' }])]],
    ['duplicate name', [file([ok, { ...ok, code: 2 }])]],
    ['case-insensitive name clash', [file([ok, { ...ok, name: 'a-b', code: 2 }])]],
    ['duplicate across files', [file([ok]), { ...file([{ ...ok, name: 'X' }]), name: 'other' }]],
    ['values on a string type', [file([{ ...ok, type: 'UTF8String', values: { A: 1 } }])]],
    ['enum value out of range', [file([{ ...ok, type: 'Enumerated', values: { A: 2 ** 31 } }])]],
    ['enum value named twice', [file([{ ...ok, type: 'Enumerated', values: { A: 1, B: 1 } }])]],
    ['extension of an unknown AVP', [file([ok], { valueExtensions: [{ avp: 'Nope', source: 'x', values: { A: 1 } }] })]],
    ['extension of an AVP without values', [file([ok], { valueExtensions: [{ avp: 'A-B', source: 'x', values: { A: 1 } }] })]],
    ['command code twice', [file([], { commands: [{ name: 'X', code: 1, abbrev: ['XR', 'XA'], applicationId: 0, source: 's' }, { name: 'Y', code: 1, abbrev: ['YR', 'YA'], applicationId: 0, source: 's' }] })]],
    ['command without abbrev', [file([], { commands: [{ name: 'X', code: 1, abbrev: ['XR'] as never, applicationId: 0, source: 's' }] })]],
    ['avps not an array', [{ name: 'bad', source: 'test', avps: {} as never }]],
    ['no name', [{ source: 'test', avps: [] } as never]],
  ]
  for (const [label, files] of bad) {
    t.throws(() => createDictionary(files), { code: DiameterErrorCodes.DICTIONARY, name: 'DiameterDictionaryError' }, label)
  }
  t.throws(() => loadDictionary('/nonexistent-dir'), DiameterDictionaryError)
  t.ok(createDictionary([file([ok, { ...ok, name: 'E', code: 5, type: 'Enumerated', values: { ON: 1 } }], { valueExtensions: [{ avp: 'E', source: 'x', values: { OFF: 0 } }] })]).enumValue('E', 'OFF') === 0)
})
