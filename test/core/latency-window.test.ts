import { describe, expect, it } from 'vitest'
import { LATENCY_WINDOW_SIZE, LatencyWindow } from '../../src/core/latency-window.js'

describe('LatencyWindow', () => {
  it('is empty (nulls) before anything is recorded', () => {
    expect(new LatencyWindow().summary()).toEqual({
      count: 0,
      p50: null,
      p90: null,
      p99: null,
      max: null,
      mean: null,
    })
  })

  it('nearest-rank quantiles, max and mean of what was recorded', () => {
    const w = new LatencyWindow()
    for (let i = 1; i <= 100; i++) w.record(i)
    expect(w.summary()).toEqual({ count: 100, p50: 50, p90: 90, p99: 99, max: 100, mean: 50.5 })
  })

  it('keeps the most recent samples only, while counting all', () => {
    const w = new LatencyWindow()
    for (let i = 0; i < LATENCY_WINDOW_SIZE; i++) w.record(1000)
    for (let i = 0; i < LATENCY_WINDOW_SIZE; i++) w.record(1)
    expect(w.summary()).toMatchObject({ count: 2 * LATENCY_WINDOW_SIZE, p99: 1, max: 1 })
  })
})
