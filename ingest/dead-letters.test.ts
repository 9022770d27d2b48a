import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { deadLetterFile, openDeadLetterStore } from './dead-letters.ts'

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dead-letters-test-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

describe('dead-letter store', () => {
  it('keeps topic, device, reason and raw payload, newest first, filtered and paged', () => {
    const file = deadLetterFile(tempDir())
    const store = openDeadLetterStore(file)
    onTestFinished(() => store.close())
    store.add([
      {
        at: 1,
        topic: 'v1/elevators/el-1/status',
        deviceId: 'el-1',
        reason: 'schema',
        message: 'door: bad',
        payload: Buffer.from('{"door":"ajar"}'),
      },
      {
        at: 2,
        topic: 'v1/elevators/el-2/status',
        deviceId: 'el-2',
        reason: 'not_utf8',
        message: 'x',
        payload: Buffer.from([0xff, 0xfe]),
      },
      {
        at: 3,
        topic: 'v1/elevators/el-1/status',
        deviceId: 'el-1',
        reason: 'invalid_json',
        message: 'y',
        payload: Buffer.from('{'),
      },
    ])
    const all = store.list()
    expect(all.map((d) => d.at)).toEqual([3, 2, 1])
    expect(all[1]?.payload).toEqual(Buffer.from([0xff, 0xfe]))
    expect(all[1]?.payloadText).toBeNull()
    expect(all[2]).toMatchObject({
      reason: 'schema',
      deviceId: 'el-1',
      payloadText: '{"door":"ajar"}',
      isTruncated: false,
    })
    expect(store.list({ deviceId: 'el-1' }).map((d) => d.reason)).toEqual(['invalid_json', 'schema'])
    expect(store.list({ reason: 'schema' })).toHaveLength(1)
    const page = store.list({ limit: 2 })
    expect(store.list({ before: page.at(-1)?.id }).map((d) => d.at)).toEqual([1])
    expect(store.countByReason()).toEqual({ schema: 1, not_utf8: 1, invalid_json: 1 })
  })

  it('stays bounded: the oldest rows go, payloads are cut', () => {
    const file = deadLetterFile(tempDir())
    const store = openDeadLetterStore(file, { maxRows: 10, maxPayloadBytes: 4 })
    onTestFinished(() => store.close())
    for (let i = 0; i < 25; i++) {
      store.add([
        {
          at: i,
          topic: 't',
          deviceId: null,
          reason: 'unknown_topic',
          message: 'm',
          payload: Buffer.from('abcdefgh'),
        },
      ])
    }
    expect(store.count()).toBe(10)
    const newest = store.list({ limit: 1000 })
    expect(newest.map((d) => d.at)).toEqual([24, 23, 22, 21, 20, 19, 18, 17, 16, 15])
    expect(newest[0]).toMatchObject({ payloadText: 'abcd', payloadBytes: 8, isTruncated: true })
  })

  it('is listed by the operator CLI', () => {
    const dir = tempDir()
    const store = openDeadLetterStore(deadLetterFile(dir))
    store.add([
      {
        at: 5,
        topic: 'v1/scales/sc-1/weighings',
        deviceId: 'sc-1',
        reason: 'schema',
        message: 'netKg: expected number',
        payload: Buffer.from('{}'),
      },
    ])
    store.close()
    const run = (...args: string[]) =>
      execFileSync('npx', ['tsx', join(import.meta.dirname, 'dead-letters-cli.ts'), ...args], {
        env: { ...process.env, DATA_DIR: dir },
        encoding: 'utf8',
      })
    const listed: unknown = JSON.parse(run('list', '--json', '--device', 'sc-1'))
    expect(listed).toMatchObject([{ deviceId: 'sc-1', reason: 'schema', payloadText: '{}' }])
    expect(JSON.parse(run('counts', '--json'))).toEqual({ schema: 1 })
    expect(run('list')).toContain('netKg: expected number')
  })
})
