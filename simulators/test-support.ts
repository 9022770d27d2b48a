/**
 * Drivers shared by the simulator tests: run a simulated device through fake time, and check every
 * message it emitted against its topic's schema (domain/topics.ts UPLINK).
 */
import { UPLINK } from '../domain/topics.ts'
import type { SimMessage } from './sim-core.ts'

/** Advances in steps of `stepMs` up to `forMs` after the sim's current time, collecting messages. */
export function runSim(
  sim: { now(): number; advance(t: number): SimMessage[] },
  forMs: number,
  stepMs = 1000,
): SimMessage[] {
  const out: SimMessage[] = []
  const end = sim.now() + forMs
  for (let t = sim.now() + stepMs; t <= end; t += stepMs) out.push(...sim.advance(t))
  out.push(...sim.advance(end))
  return out
}

/** Throws, naming the message, on the first one its topic's schema refuses. */
export function expectSchemaValid(msgs: SimMessage[]): void {
  for (const m of msgs) {
    const result = UPLINK[m.type].schema.safeParse(m.payload)
    if (!result.success) throw new Error(`${JSON.stringify(m)}: ${result.error.message}`)
  }
}
