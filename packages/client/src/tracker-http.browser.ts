import type { TrackerAnswer, TrackerRequestInit } from './tracker-http.ts'

export type { TrackerAnswer, TrackerRequestInit } from './tracker-http.ts'

/** One HTTP exchange with the tracker: `fetch`, the browser's own (tracker-http.ts is Node's). */
export async function trackerRequest(url: string, init: TrackerRequestInit): Promise<TrackerAnswer> {
  const response = await fetch(url, init)
  return { status: response.status, text: await response.text() }
}
