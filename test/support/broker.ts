/**
 * A real broker for tests that need devices on MQTT: aedes on 127.0.0.1 at port 0, checking device
 * credentials against the registry, with a throwaway metrics registry and a silent logger.
 */
import { Registry as MetricsRegistry } from 'prom-client'
import { type Broker, createBroker } from '../../broker/broker.ts'
import { BrokerConfigSchema } from '../../broker/config.ts'
import { parseEnv } from '../../domain/config.ts'
import { silentLogger } from '../../domain/logger.ts'
import type { MessageSink } from '../../domain/pipeline.ts'
import { decodeMessage, type Reading } from '../../domain/reading.ts'
import type { Registry } from '../../registry/registry.ts'

/** Starts the broker; the caller stops it. */
export async function startTestBroker(registry: Registry, onDeviceMessage?: MessageSink): Promise<Broker> {
  const broker = createBroker({
    config: parseEnv(BrokerConfigSchema, { MQTT_PORT: '0', MQTT_HOST: '127.0.0.1' }),
    logger: silentLogger(),
    registry,
    metrics: new MetricsRegistry(),
    onDeviceMessage,
  })
  await broker.start()
  return broker
}

/**
 * The broker's sink in one process, as platform/main wires it: each authorized uplink decoded and
 * handed on as a reading; one that does not decode is dropped.
 */
export function decodedReadings(handle: (reading: Reading) => void | Promise<void>): MessageSink {
  return async (message) => {
    const decoded = decodeMessage(message.topic, message.payload, message.receivedAt, message.clientId)
    if (decoded.ok) await handle(decoded.reading)
  }
}
