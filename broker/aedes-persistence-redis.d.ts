/** The one part of aedes-persistence-redis (it ships no types) the broker uses. */
declare module 'aedes-persistence-redis' {
  import type { Redis, RedisOptions } from 'ioredis'

  namespace aedesPersistenceRedis {
    type Options = RedisOptions & {
      /** A connection made by the caller (used instead of one made from the options). */
      conn?: Redis
      /** Offline messages delivered at most when a persistent session reconnects (default 1000). */
      maxSessionDelivery?: number
    }
    /** An aedes persistence; aedes calls the rest of its interface. */
    type Persistence = {
      /** Leaves the cluster's subscription broadcast and disconnects; throws when called twice. */
      destroy(): Promise<void>
    }
  }

  function aedesPersistenceRedis(options?: aedesPersistenceRedis.Options): aedesPersistenceRedis.Persistence
  export = aedesPersistenceRedis
}
