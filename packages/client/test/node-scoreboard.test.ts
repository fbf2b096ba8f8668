import { describe, expect, it } from 'vitest'
import { NodeScoreboard } from '../src/node-scoreboard.ts'
import { UnreachableNodes } from '../src/unreachable-nodes.ts'

describe('NodeScoreboard', () => {
  it('measures a node by what it delivers while busy, not by each request alone', () => {
    let now = 0
    const board = new NodeScoreboard(() => now)
    // Two 1000-byte requests served side by side by a node that delivers 10 bytes/ms: both end at 200 ms.
    board.started('a')
    board.started('a')
    for (let t = 10; t <= 200; t += 10) {
      now = t
      board.received('a', 50)
      board.received('a', 50)
    }
    board.succeeded('a', 200)
    board.succeeded('a', 200)
    // Each request alone looked like 5 bytes/ms; the node did 10 (samples end between chunk arrivals: +-1).
    expect(board.rate('a')).toBeGreaterThan(9)
    expect(board.rate('a')).toBeLessThanOrEqual(10)
  })

  it('sends the next request where it is expected to finish first, counting queued work', () => {
    let now = 0
    const board = new NodeScoreboard(() => now)
    board.started('fast')
    board.started('slow')
    now = 100
    board.received('fast', 1000) // 10 bytes/ms
    board.succeeded('fast', 100)
    board.received('slow', 250) // 2.5 bytes/ms
    now = 400
    board.succeeded('slow', 400)
    expect(board.cost('fast', 1000)).toBeLessThan(board.cost('slow', 1000))
    // Three requests queued on the fast node still beat one on the slow node (400 vs 400 is a tie; 3 is less).
    board.started('fast')
    board.started('fast')
    expect(board.cost('fast', 1000)).toBeLessThan(board.cost('slow', 1000))
    board.started('fast')
    expect(board.cost('fast', 1000)).toBe(board.cost('slow', 1000))
  })

  it('idle time between requests does not count against a node', () => {
    let now = 0
    const board = new NodeScoreboard(() => now)
    board.started('a')
    now = 100
    board.received('a', 1000)
    board.succeeded('a', 100)
    now = 5_000 // idle: nobody asked
    board.started('a')
    now = 5_100
    board.received('a', 1000)
    board.succeeded('a', 100)
    expect(board.rate('a')).toBeCloseTo(10, 5)
  })

  it('puts a node that failed behind every healthy one', () => {
    const board = new NodeScoreboard(() => 0)
    board.started('bad')
    board.failed('bad')
    board.started('ok')
    board.started('ok')
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
    // Tried again after 30 s; failing again doubles the wait.
    clock = 30_000
    expect(unreachable.isDown('dead')).toBe(false)
    unreachable.failed('dead')
    clock = 30_000 + 59_999
    expect(unreachable.isDown('dead')).toBe(true)
    clock = 30_000 + 60_000
    expect(unreachable.isDown('dead')).toBe(false)
    // A success forgives it at once, and a new failure starts from 30 s again.
    unreachable.failed('dead')
    unreachable.reached('dead')
    expect(new NodeScoreboard(() => 0, unreachable).isHealthy('dead')).toBe(true)
    unreachable.failed('dead')
    clock += 30_000
    expect(unreachable.isDown('dead')).toBe(false)
  })
})
