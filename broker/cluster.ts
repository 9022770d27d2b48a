/**
 * Several brokers sharing one Redis (REDIS_URL of broker/main.ts): messages travel between them over
 * Redis pub/sub (mqemitter-redis) and sessions live in Redis (aedes-persistence-redis: the
 * subscriptions of persistent sessions, the QoS 1 messages they have not acknowledged, wills), so a
 * device or a service account may connect to any broker, and a subscriber's session outlives the
 * broker it was on. Each process is one broker with an id of its own.
 */
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { hostname } from 'node:os'
import aedesPersistenceRedis from 'aedes-persistence-redis'
import { Redis } from 'ioredis'
import mqemitterRedis from 'mqemitter-redis'
import type { Logger } from '../domain/logger.ts'
import type { BrokerDeps } from './broker.ts'

export type RedisCluster = {
  /** For `createBroker({ cluster })`. */
  options: NonNullable<BrokerDeps['cluster']>
  /** This broker's id in the cluster (`$SYS/{id}/…`, keys of the messages it stored). */
  id: string
  /** Leaves the cluster and closes the Redis connections; call after the broker stopped. Safe twice. */
  close(): Promise<void>
}

/**
 * aedes' in-memory persistence replays a whole session on reconnect; the Redis one only its first
 * 1,000 messages unless told otherwise. A service account away for longer (ingest restarting under
 * 8,000 readings/s) would leave the rest in Redis until its next reconnect.
 */
const MAX_SESSION_DELIVERY = 10_000_000
/**
 * `a/#` matches `a` [MQTT-4.7.1-3], as in aedes' own emitter. No concurrency cap (aedes' default is 100):
 * past the cap mqemitter queues messages in an array it `shift()`s once per message, a copy of the whole
 * queue each time. Here a delivery to a subscriber session waits on a Redis round trip, so when the
 * subscribers fall behind the queue grows and the copying takes the event loop: in a profile of the
 * broker serving ingest at ~2,500 readings/s, 29.7 % of its time went to that `shift()`, its event-loop
 * lag p99 reached 0.2-0.8 s and delivery fell to ~70 messages/s. Uncapped, what waits is the same
 * messages (Redis holds the sessions' queues either way), without the copying.
 */
const EMITTER_OPTIONS = { concurrency: 0, matchEmptyLevels: true }
/** A Redis that does not answer within this at shutdown is left behind. */
const CLOSE_TIMEOUT_MS = 5000

/**
 * A broker id unique to this process: ids key the messages a broker stores (with a counter that
 * restarts at 0), so a restarted broker must not reuse its predecessor's. No `/` (topic levels) or `:`
 * (the persistence splits keys on it).
 */
export function newBrokerId(): string {
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, '_')
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`
}

/** Redis connections for one broker; nothing connects until the broker starts (lazyConnect). */
export function createRedisCluster(deps: { url: string; logger: Logger; id?: string }): RedisCluster {
  const id = deps.id ?? newBrokerId()
  const log = deps.logger.child({ component: 'broker-cluster', brokerId: id })
  const target = redisTarget(deps.url)
  const connections: Redis[] = []

  function connect(role: 'subscriber' | 'publisher' | 'sessions'): Redis {
    // A subscriber connection cannot pipeline; the other two batch what one event loop turn sends.
    const conn = new Redis(deps.url, { lazyConnect: true, enableAutoPipelining: role !== 'subscriber' })
    let isDown = false
    // ioredis retries on its own (backoff up to 2 s); one line when Redis goes away, one when it is back.
    conn.on('error', (err: Error) => {
      if (isDown) return
      isDown = true
      log.error({ err, role, redis: target }, 'Redis connection lost; retrying')
    })
    conn.on('ready', () => {
      if (!isDown) return
      isDown = false
      log.info({ role, redis: target }, 'Redis connection back')
    })
    connections.push(conn)
    return conn
  }

  const mq = mqemitterRedis({
    ...EMITTER_OPTIONS,
    subConn: connect('subscriber'),
    pubConn: connect('publisher'),
  })
  // The emitter re-emits its connections' errors (logged above) on `state`, which its types omit;
  // unheard, an 'error' event would throw.
  const state: unknown = Reflect.get(mq, 'state')
  if (state instanceof EventEmitter) state.on('error', () => undefined)
  const sessions = connect('sessions')
  removeFirstOutgoingMatchOnly(sessions)
  const persistence = aedesPersistenceRedis({
    conn: sessions,
    maxSessionDelivery: MAX_SESSION_DELIVERY,
  })
  storeEachSubscribeOnce(persistence)

  let closing: Promise<void> | null = null
  async function shutdown(): Promise<void> {
    try {
      await withTimeout(persistence.destroy(), CLOSE_TIMEOUT_MS)
    } catch (err) {
      log.warn({ err }, 'Redis sessions not closed cleanly')
    }
    // aedes closes the emitter when it stops; this covers a broker that never started.
    await withTimeout(new Promise<void>((resolve) => mq.close(() => resolve())), CLOSE_TIMEOUT_MS).catch(
      () => undefined,
    )
    for (const conn of connections) conn.disconnect()
  }

  return {
    id,
    options: { id, mq, persistence },
    close() {
      closing ??= shutdown()
      return closing
    },
  }
}

/**
 * aedes 1.2 stores a persistent session's SUBSCRIBE once per filter, each time with the packet's whole
 * list (handlers/subscribe.js storeSubscriptions), and the Redis persistence's broadcast waits for its
 * own `$SYS/sub/add` echo under a key of the client and the list's first filter: of n calls for one
 * packet only the last is answered, the others never, so a SUBSCRIBE of several filters (ingest's and
 * alerts' subscribers send one) got no SUBACK. Every call for the same list (the same array) shares
 * the first call's promise: the list is stored and broadcast once.
 */
function storeEachSubscribeOnce(persistence: object): void {
  const add: unknown = Reflect.get(persistence, 'addSubscriptions')
  if (typeof add !== 'function') return
  const pending = new WeakMap<object, unknown>()
  Reflect.set(persistence, 'addSubscriptions', (client: unknown, subs: object): unknown => {
    if (!pending.has(subs)) pending.set(subs, Reflect.apply(add, persistence, [client, subs]))
    return pending.get(subs)
  })
}

/**
 * aedes-persistence-redis takes an acknowledged message out of its subscriber's `outgoing:{clientId}`
 * list with `LREM key 0 id`: every element compared, the whole list scanned. Under a backlog (ingest
 * or alerts behind for a while, 400,000 entries) each acknowledgement costs Redis 6 ms, so delivery
 * slows as the backlog grows and never catches up. Acknowledgements come oldest first, near the head:
 * `LREM key 1 id` stops at the first match, 0.15 ms at any length (measured on this machine). An id is
 * in the list once per matching subscription: once for ingest's and alerts' filters, which do not
 * overlap; where two filters of one session match, the copy left goes out again with the session's
 * next replay (QoS 1 allows it) and is removed then. Wills' list keeps its count: that LREM removes
 * duplicates on purpose.
 */
function removeFirstOutgoingMatchOnly(conn: Redis): void {
  const lrem = conn.lrem.bind(conn) as (key: string, count: number, element: string) => Promise<number>
  Reflect.set(conn, 'lrem', (key: string, count: number | string, element: string, ...rest: unknown[]) => {
    const first = Number(count) === 0 && typeof key === 'string' && key.startsWith('outgoing:')
    return Reflect.apply(lrem, conn, [key, first ? 1 : count, element, ...rest])
  })
}

/** host:port of a Redis URL, for logs: its password never is. */
function redisTarget(url: string): string {
  try {
    const parsed = new URL(url)
    return `${parsed.hostname}:${parsed.port || '6379'}`
  } catch {
    return 'redis'
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (err: unknown) => {
        clearTimeout(timer)
        reject(err)
      },
    )
  })
}
