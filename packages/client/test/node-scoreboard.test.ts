import { describe, expect, it } from 'vitest'
import { NodeScoreboard } from '../src/node-scoreboard.ts'
import { UnreachableNodes } from '../src/unreachable-nodes.ts'

describe('NodeScoreboard', () => {
  it('measures a node by what it delivers while busy, not by each request alone', () => {
    let now = 0
    const board = new NodeScoreboard(() => now)
    // Two 1000-byte requests served side by side by a node that delivers 10 bytes/ms: both end at 200 ms.
    board.started('a', 1000)
    board.started('a', 1000)
    for (let t = 10; t <= 200; t += 10) {
      now = t
      board.received('a', 50)
      board.received('a', 50)
    }
    board.succeeded('a', 200)
    board.succeeded('a', 200)
    // Each request alone looked like 5 bytes/ms; the node did 10 (the clock starts at the first chunk, whose
    // bytes count: +5% at most here).
    expect(board.rate('a')).toBeGreaterThan(9.5)
    expect(board.rate('a')).toBeLessThanOrEqual(10.5)
  })

  it('the wait for a first byte (a cold connection) is not counted as slowness', () => {
    let now = 0
    const board = new NodeScoreboard(() => now)
    board.started('cold', 1000)
    now = 400 // dial, handshakes, request
    for (let t = 410; t <= 500; t += 10) {
      now = t
      board.received('cold', 100)
    }
    board.succeeded('cold', 500)
    // 1000 bytes in the 100 ms they flowed, not in the 500 ms the request took.
    expect(board.rate('cold')).toBeGreaterThan(9)
  })

  it('sends the next request where it is expected to finish first, counting what busy nodes still owe', () => {
    let now = 0
    const board = new NodeScoreboard(() => now)
    const deliver = (id: string, perMs: number): void => {
      board.started(id, 1000)
      for (let t = 1; t * perMs <= 1000; t++) {
        now += 1
        board.received(id, perMs)
      }
      board.succeeded(id, 1000 / perMs)
    }
    deliver('fast', 10)
    deliver('slow', 2)
    expect(board.cost('fast', 1000)).toBeLessThan(board.cost('slow', 1000))
    // A fast node that has just started a piece still owes all of it: 2000 bytes at 10/ms beat 1000 at 2/ms.
    board.started('fast', 1000)
    expect(board.cost('fast', 1000)).toBeCloseTo(200, -1)
    // Once most of it is in, the queue behind it is short.
    board.received('fast', 800)
    expect(board.cost('fast', 1000)).toBeCloseTo(120, -1)
    // Five pieces queued there cost more than one on the slow node.
    for (let i = 0; i < 4; i++) board.started('fast', 1000)
    expect(board.cost('fast', 1000)).toBeGreaterThan(board.cost('slow', 1000))
    expect(board.inFlight('fast')).toBe(5)
  })

  it('idle time between requests does not count against a node', () => {
    let now = 0
    const board = new NodeScoreboard(() => now)
    const piece = (): void => {
      board.started('a', 1000)
      for (let i = 0; i < 10; i++) {
        now += 10
        board.received('a', 100)
      }
      board.succeeded('a', 100)
    }
    piece()
    now += 5_000 // idle: nobody asked
    piece()
    // 100 bytes per 10 ms while it sends (the first chunk of each piece counts from its arrival: ~11).
    expect(board.rate('a')).toBeGreaterThan(9.5)
    expect(board.rate('a')).toBeLessThan(11.5)
  })

  it('prices a node it has not measured at the best rate measured now, also after that rate fell', () => {
    let now = 0
    const board = new NodeScoreboard(() => now)
    const sample = (id: string, bytes: number): void => {
      board.started(id, bytes)
      now += 1
      board.received(id, 1)
      now += 100
      board.received(id, bytes - 1)
      board.succeeded(id, 101)
    }
    sample('fast', 2000) // ~20 bytes/ms
    sample('slow', 500) // ~5 bytes/ms
    expect(board.cost('new', 1000)).toBeCloseTo(board.cost('fast', 1000), 5)
    // The fast node slows down below the slow one: the best rate is now the slow node's.
    for (let i = 0; i < 20; i++) sample('fast', 100)
    expect(board.rate('fast')).toBeLessThan(board.rate('slow') as number)
    expect(board.cost('new', 1000)).toBeCloseTo(board.cost('slow', 1000), 5)
  })

  it('a cancelled request leaves nothing owed behind', () => {
    let now = 0
    const board = new NodeScoreboard(() => now)
    board.started('a', 1000)
    board.started('a', 1000)
    now = 50
    board.received('a', 300)
    board.cancelled('a', 700)
    expect(board.inFlight('a')).toBe(1)
    board.cancelled('a', 1000)
    expect(board.inFlight('a')).toBe(0)
    // Nothing is owed now: the cost is the new piece alone.
    expect(board.cost('a', 1000)).toBe(board.cost('b', 1000))
  })

  it('puts a node that failed behind every healthy one', () => {
    const board = new NodeScoreboard(() => 0)
    board.started('bad', 1000)
    board.failed('bad', 1000)
    board.started('ok', 1000)
    board.started('ok', 1000)
    expect(board.isHealthy('bad')).toBe(false)
    expect(board.cost('bad', 1000)).toBeGreaterThan(board.cost('ok', 1000))
  })

  it('a node that failed a dial in an earlier transfer is scored as failed in the next, until its backoff ends', () => {
    let clock = 0
    const unreachable = new UnreachableNodes(() => clock)
    unreachable.failed('dead')
    // A new transfer's scoreboard: the dead node sorts behind a healthy one it has never measured.
    const board = new NodeScoreboard(() => 0, unreachable)
    expect(board.isHealthy('dead')).toBe(false)
    expect(board.cost('dead', 1000)).toBeGreaterThan(board.cost('alive', 1000))
    // Tried again after 60 s; failing again doubles the wait.
    clock = 59_999
    expect(unreachable.isDown('dead')).toBe(true)
    clock = 60_000
    expect(unreachable.isDown('dead')).toBe(false)
    unreachable.failed('dead')
    clock = 60_000 + 119_999
    expect(unreachable.isDown('dead')).toBe(true)
    clock = 60_000 + 120_000
    expect(unreachable.isDown('dead')).toBe(false)
    // A success forgives it at once, and a new failure starts from 60 s again.
    unreachable.failed('dead')
    unreachable.reached('dead')
    expect(new NodeScoreboard(() => 0, unreachable).isHealthy('dead')).toBe(true)
    unreachable.failed('dead')
    clock += 60_000
    expect(unreachable.isDown('dead')).toBe(false)
  })

  it('a node that refused a dial sorts behind one that only went silent, both behind a healthy one', () => {
    const unreachable = new UnreachableNodes(() => 0)
    // The silent one is slower on record and has more owed: it still goes first, a dial to the dead one fails.
    unreachable.failed('dead', 'unreachable')
    unreachable.failed('slow', 'silent')
    const board = new NodeScoreboard(() => 0, unreachable)
    board.started('slow', 5000)
    expect(board.cost('slow', 1000)).toBeLessThan(board.cost('dead', 1000))
    expect(board.cost('alive', 1000)).toBeLessThan(board.cost('slow', 1000))
    // Silence after a refused dial does not upgrade it.
    unreachable.failed('dead', 'silent')
    expect(unreachable.downHow('dead')).toBe('unreachable')
    expect(new NodeScoreboard(() => 0, unreachable).cost('dead', 1000)).toBeGreaterThan(board.cost('slow', 1000))
  })
})
