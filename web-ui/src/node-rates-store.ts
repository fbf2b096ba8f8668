import { NodeRates } from '@shoal/client'

const KEY = 'shoal.node-rates'

/**
 * The node rates this browser measured in earlier visits (see @shoal/client's NodeRates): downloads start with
 * the fast nodes instead of learning them again on every page load. Peer ids and speeds only, nothing about
 * files. A cache: storage that is missing, full or holds something else gives an empty one.
 */
export function loadNodeRates(storage: Pick<Storage, 'getItem'> | undefined = globalThis.localStorage): NodeRates {
  try {
    const text = storage?.getItem(KEY)
    return text === null || text === undefined ? new NodeRates() : NodeRates.fromJSON(JSON.parse(text))
  } catch {
    return new NodeRates()
  }
}

/** Writes the rates back when the page is hidden or left (the moments a browser still lets a page write). */
export function keepNodeRates(
  rates: NodeRates,
  storage: Pick<Storage, 'setItem'> | undefined = globalThis.localStorage,
  page: EventTarget | undefined = globalThis.window,
  visibility: () => string = () => globalThis.document?.visibilityState ?? 'visible'
): () => void {
  const save = (): void => {
    if (!rates.changed) return
    try {
      storage?.setItem(KEY, JSON.stringify(rates))
    } catch {
      // Storage full or refused (private mode): only the head start is lost.
    }
  }
  const onVisibility = (): void => {
    if (visibility() === 'hidden') save()
  }
  page?.addEventListener('pagehide', save)
  page?.addEventListener('visibilitychange', onVisibility)
  return () => {
    page?.removeEventListener('pagehide', save)
    page?.removeEventListener('visibilitychange', onVisibility)
  }
}
