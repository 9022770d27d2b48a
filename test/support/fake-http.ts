/**
 * A local HTTP server standing in for an endpoint this machine has no server for (InfluxDB 2.x's
 * `/api/v2/write`): each request's whole body goes to `answer`, which writes the response. Listens on
 * 127.0.0.1, closes when the test finishes; resolves to its base URL.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { onTestFinished } from 'vitest'

export async function startFakeHttp(
  answer: (req: IncomingMessage, body: Buffer, res: ServerResponse) => void,
): Promise<string> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => answer(req, Buffer.concat(chunks), res))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('fake HTTP server has no TCP port')
  return `http://127.0.0.1:${address.port}`
}
