// A no-op Diameter responder: answers CER with CEA and every CCR with CCA 2001 (echoing the
// session, request type/number and a GSU per MSCC) and does nothing else. `npm run bench` drives
// it with the same load generator as the OCS, so the OCS figure has a ceiling measured in the same run.
import { createServer } from 'node:net'
import { encode, decode, findAvp, findAvps, type AvpInput } from '../src/diameter/codec.js'
import { DiameterFramer } from '../src/diameter/framer.js'

const server = createServer((socket) => {
  socket.setNoDelay(true)
  const framer = new DiameterFramer()
  socket.on('error', () => undefined)
  socket.on('data', (chunk: Buffer) => {
    for (const buf of framer.push(chunk)) {
      const m = decode(buf)
      if (!m.flags.request) continue
      const avps: AvpInput[] = []
      const sid = findAvp(m.avps, 'Session-Id')
      if (sid) avps.push({ name: 'Session-Id', value: String(sid.value) })
      avps.push({ name: 'Result-Code', value: 2001 }, { name: 'Origin-Host', value: 'noop.localdomain' }, { name: 'Origin-Realm', value: 'localdomain' })
      if (m.commandCode === 257) {
        avps.push({ name: 'Host-IP-Address', value: '127.0.0.1' }, { name: 'Vendor-Id', value: 0 }, { name: 'Product-Name', value: 'noop' }, { name: 'Auth-Application-Id', value: 4 })
      } else if (m.commandCode === 272) {
        avps.push({ name: 'Auth-Application-Id', value: 4 })
        for (const n of ['CC-Request-Type', 'CC-Request-Number'] as const) {
          const x = findAvp(m.avps, n)
          if (x) avps.push({ name: n, value: x.value as number })
        }
        for (const _ of findAvps(m.avps, 'Multiple-Services-Credit-Control')) {
          avps.push({ name: 'Multiple-Services-Credit-Control', value: [{ name: 'Granted-Service-Unit', value: [{ name: 'CC-Total-Octets', value: 5_242_880n }] }, { name: 'Validity-Time', value: 900 }, { name: 'Result-Code', value: 2001 }] })
        }
      }
      socket.write(encode({ flags: { request: false, proxiable: m.flags.proxiable }, commandCode: m.commandCode, applicationId: m.applicationId, hopByHop: m.hopByHop, endToEnd: m.endToEnd, avps }))
    }
  })
})
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const addr = server.address()
  console.log(`noop diameter listening on ${typeof addr === 'object' && addr ? addr.port : '?'}`)
})
process.on('SIGTERM', () => process.exit(0))
