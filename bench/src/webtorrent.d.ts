/** The part of WebTorrent's API the bench uses (the package ships no types). */
declare module 'webtorrent' {
  export interface WtTorrent {
    torrentFile: Uint8Array
    on(event: 'infoHash' | 'ready' | 'done', listener: () => void): void
    on(event: 'error' | 'warning', listener: (err: Error | string) => void): void
    addPeer(addr: string): boolean
  }
  export interface WtClient {
    torrentPort: number
    on(event: 'error', listener: (err: Error | string) => void): void
    seed(path: string, opts: Record<string, unknown>, onSeed: (t: WtTorrent) => void): void
    add(torrent: Uint8Array, opts: Record<string, unknown>): WtTorrent
    destroy(cb?: () => void): void
  }
  const WebTorrent: new (opts: Record<string, unknown>) => WtClient
  export default WebTorrent
}
