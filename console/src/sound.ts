/**
 * The alarm tone for critical alerts, generated with Web Audio (no audio file to fetch). Muting is
 * remembered in localStorage: it is a preference of the desk, not a secret.
 */

const MUTE_KEY = 'liftscale.console.muted'

export type Alarm = {
  isMuted(): boolean
  setMuted(muted: boolean): void
  /** Three short two-tone pulses, unless muted. */
  ring(): void
  /** Browsers start audio only after a user gesture: call from one (login, any click). */
  unlock(): void
}

export function createAlarm(storage: Storage): Alarm {
  let context: AudioContext | null = null
  let muted = storage.getItem(MUTE_KEY) === '1'

  function ctx(): AudioContext | null {
    if (context) return context
    try {
      context = new AudioContext()
    } catch {
      context = null
    }
    return context
  }

  return {
    isMuted: () => muted,
    setMuted(value) {
      muted = value
      storage.setItem(MUTE_KEY, value ? '1' : '0')
    },
    unlock() {
      const c = ctx()
      if (c && c.state === 'suspended') void c.resume().catch(() => undefined)
    },
    ring() {
      if (muted) return
      const c = ctx()
      if (!c) return
      if (c.state === 'suspended') void c.resume().catch(() => undefined)
      const start = c.currentTime + 0.05
      for (let i = 0; i < 3; i += 1) {
        for (const [offset, frequency] of [
          [0, 880],
          [0.16, 660],
        ] as const) {
          const at = start + i * 0.5 + offset
          const osc = c.createOscillator()
          const gain = c.createGain()
          osc.type = 'square'
          osc.frequency.value = frequency
          gain.gain.setValueAtTime(0.0001, at)
          gain.gain.exponentialRampToValueAtTime(0.2, at + 0.01)
          gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.14)
          osc.connect(gain).connect(c.destination)
          osc.start(at)
          osc.stop(at + 0.15)
        }
      }
    },
  }
}
