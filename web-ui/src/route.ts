import { useCallback, useEffect, useState } from 'react'

/**
 * Where the drive is, kept in the URL's query (`/?folder=Photos%2F2024%2F`, `/?view=trash`) so that Back,
 * bookmarks and reload keep it. A query rather than a path: folder names may contain dots, and the UI server
 * answers extension-less paths only with the app.
 */
export type Section = 'files' | 'photos' | 'shares' | 'trash' | 'account'

export interface Route {
  section: Section
  /** "" is the root; others end in "/". */
  folder: string
  /** Search by name; "" for none. */
  query: string
}

const SECTIONS: readonly Section[] = ['files', 'photos', 'shares', 'trash', 'account']

export function parseRoute(search: string): Route {
  const params = new URLSearchParams(search)
  const view = params.get('view') ?? 'files'
  const section = (SECTIONS as readonly string[]).includes(view) ? (view as Section) : 'files'
  let folder = section === 'files' ? (params.get('folder') ?? '') : ''
  if (folder !== '' && !folder.endsWith('/')) folder += '/'
  return { section, folder, query: section === 'files' ? (params.get('q') ?? '') : '' }
}

const ROUTE_KEYS = ['view', 'folder', 'q']

/** `extra`: the page's other parameters (`tracker`, `save`), kept as they are. */
export function formatRoute(route: Route, extra = ''): string {
  const params = new URLSearchParams(extra)
  for (const key of ROUTE_KEYS) params.delete(key)
  if (route.section !== 'files') params.set('view', route.section)
  if (route.folder !== '') params.set('folder', route.folder)
  if (route.query !== '') params.set('q', route.query)
  const query = params.toString()
  return query === '' ? '/' : `/?${query}`
}

/**
 * The route as state: `go` pushes a history entry (Back returns), `replace` does not (typing in the search
 * box should not leave one entry per key).
 */
export function useRoute(): { route: Route; go: (r: Route) => void; replace: (r: Route) => void } {
  const [route, setRoute] = useState(() => parseRoute(location.search))
  useEffect(() => {
    const onPop = () => setRoute(parseRoute(location.search))
    window.addEventListener('popstate', onPop)
    return () => window.removeEventListener('popstate', onPop)
  }, [])
  const go = useCallback((next: Route) => {
    const url = formatRoute(next, location.search)
    if (url !== `${location.pathname}${location.search}`) history.pushState(null, '', url)
    setRoute(next)
  }, [])
  const replace = useCallback((next: Route) => {
    history.replaceState(null, '', formatRoute(next, location.search))
    setRoute(next)
  }, [])
  return { route, go, replace }
}
