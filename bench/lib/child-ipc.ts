/**
 * The load generators' side of their IPC channel (load-child.ts, sim-load-child.ts): a message to the
 * parent, and the last one, after which the child lets go of the channel. The last one can be
 * megabytes (traced readings): the channel is let go only once it is written, or the parent could see
 * the child exit before the message arrives.
 */

/** Sends `message` to the parent; `then` runs once it is written (at once without a parent). */
export function sendToParent(message: unknown, then?: () => void): void {
  if (process.send === undefined) then?.()
  else process.send(message, undefined, undefined, () => then?.())
}

/** Reports how `run` ended ({ type: 'done', result } or { type: 'failed', error }), then disconnects. */
export function reportToParent<R>(run: Promise<R>, describe: (err: unknown) => string): void {
  const disconnect = (): void => process.disconnect?.()
  run.then(
    (result) => sendToParent({ type: 'done', result }, disconnect),
    (err: unknown) => sendToParent({ type: 'failed', error: describe(err) }, disconnect),
  )
}
