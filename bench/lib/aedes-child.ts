/**
 * Raw Aedes, the baseline broker, in its own process (forked by brokers.ts): default options, no
 * authentication, no persistence beyond Aedes' in-memory defaults, 127.0.0.1 on a free port. It tells
 * its parent the port over IPC and closes on SIGTERM.
 */
import { createServer } from 'node:net'
import { Aedes } from 'aedes'

const broker = await Aedes.createBroker()
const server = createServer(broker.handle)
server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  process.send?.({ type: 'listening', port: typeof address === 'object' && address ? address.port : 0 })
})
process.once('SIGTERM', () => {
  broker.close(() => server.close(() => process.exit(0)))
  setTimeout(() => process.exit(0), 5000).unref()
})
