/**
 * A small seeded PRNG (sfc32, seeded through cyrb128) with the distributions the simulators need.
 * Same seed, same sequence, on every platform: a fleet is reproducible from its seed.
 * `fork(label)` derives an independent stream, so one device's draws never shift another's.
 */

export type Rng = {
  /** Uniform in [0, 1). */
  next(): number
  /** Uniform in [min, max). */
  uniform(min: number, max: number): number
  /** Integer uniform in [min, max] (both included). */
  int(min: number, max: number): number
  /** Normal (Box-Muller). */
  normal(mean: number, sd: number): number
  /** Log-normal with the given median and shape sigma. */
  logNormal(median: number, sigma: number): number
  /** Exponential with the given mean: the gap between Poisson arrivals of rate 1/mean. */
  exponential(mean: number): number
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T
  /** One key of a weight table, with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K
  /** true with probability p. */
  chance(p: number): boolean
  /** An independent generator derived from this one's seed and a label. */
  fork(label: string): Rng
}

/** cyrb128: hashes a string into four 32-bit words, a good seed for sfc32. */
export function hashSeed(text: string): [number, number, number, number] {
  let h1 = 1779033703
  let h2 = 3144134277
  let h3 = 1013904242
  let h4 = 2773480762
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i)
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067)
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233)
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213)
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179)
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067)
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233)
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213)
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179)
  h1 ^= h2 ^ h3 ^ h4
  h2 ^= h1
  h3 ^= h1
  h4 ^= h1
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0]
}

/** Creates a generator; a number and its decimal string give the same sequence. */
export function createRng(seed: number | string): Rng {
  const seedText = String(seed)
  let [a, b, c, d] = hashSeed(seedText)
  const next = (): number => {
    // sfc32 (Chris Doty-Humphrey's Small Fast Counting generator), 32-bit state words.
    a >>>= 0
    b >>>= 0
    c >>>= 0
    d >>>= 0
    let t = (a + b) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    d = (d + 1) | 0
    t = (t + d) | 0
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
  // Discard the first outputs: sfc32 mixes its state in the first few rounds.
  for (let i = 0; i < 12; i++) next()

  let spareNormal: number | null = null

  const rng: Rng = {
    next,
    uniform: (min, max) => min + (max - min) * next(),
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    normal(mean, sd) {
      if (spareNormal !== null) {
        const z = spareNormal
        spareNormal = null
        return mean + sd * z
      }
      let u = 0
      while (u === 0) u = next()
      const v = next()
      const r = Math.sqrt(-2 * Math.log(u))
      spareNormal = r * Math.sin(2 * Math.PI * v)
      return mean + sd * r * Math.cos(2 * Math.PI * v)
    },
    logNormal: (median, sigma) => median * Math.exp(rng.normal(0, sigma)),
    exponential(mean) {
      let u = 0
      while (u === 0) u = next()
      return -Math.log(u) * mean
    },
    pick<T>(items: readonly T[]): T {
      const item = items[Math.floor(next() * items.length)]
      if (item === undefined) throw new RangeError('pick from an empty list')
      return item
    },
    weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
      let total = 0
      let last: K | null = null
      for (const key in weights) {
        total += weights[key]
        last = key
      }
      if (last === null) throw new RangeError('weighted pick from an empty table')
      let x = next() * total
      for (const key in weights) {
        x -= weights[key]
        if (x < 0) return key
      }
      return last
    },
    chance: (p) => next() < p,
    fork: (label) => createRng(`${seedText}/${label}`),
  }
  return rng
}
