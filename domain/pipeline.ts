/**
 * How a message moves between services. In one process the broker hands messages to ingest and
 * alerts through these functions, in memory; split across processes, the same functions are fed by
 * an MQTT subscription instead. Either way the device's PUBACK waits for the returned promise.
 */
import type { Reading } from './reading.ts'

/** A message as the broker received it. */
export type InboundMessage = {
  topic: string
  payload: Buffer
  /** Authenticated MQTT client id that published it (the device id for a device). */
  clientId: string
  /** Broker receive time, ms since epoch. */
  receivedAt: number
}

/**
 * Takes one message and resolves once it is durably taken: stored in InfluxDB, in the fsync'd
 * spool, or (when invalid) in the dead-letter store. Never rejects because of the message's content.
 */
export type MessageSink = (message: InboundMessage) => Promise<void>

/** Receives every validated reading, in the order of one device's messages. */
export type ReadingListener = (reading: Reading) => void | Promise<void>
