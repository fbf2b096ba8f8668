import { useEffect, useState } from 'react'
import { explain } from './drive.ts'
import { formatBytes } from './format.ts'
import { Icon } from './icons.tsx'
import { MAX_IN_MEMORY_PREVIEW, type PreviewKind, TEXT_PREVIEW_BYTES } from './preview-kind.ts'
import { thumbUrl } from './thumbs.ts'

/** Reads the file's plaintext (all of it, or a range), verified and decrypted on this device. */
export type ReadFile = (
  range: { offset: number; length: number } | undefined,
  signal: AbortSignal
) => Promise<AsyncIterable<Uint8Array>>

export interface PreviewSource {
  kind: PreviewKind
  name: string
  size: number
  mime?: string | undefined
  thumb?: string | undefined
  read: ReadFile
  /** Video and audio: a URL the element can seek in (drive only: it needs the service worker). */
  openMedia?: () => Promise<{ url: string; close(): void }>
}

type Shown =
  | { kind: 'loading' }
  | { kind: 'url'; url: string }
  | { kind: 'text'; text: string; truncated: boolean }
  | { kind: 'message'; text: string }

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = []
  for await (const chunk of stream) parts.push(chunk)
  return parts
}

/** The inside of a viewer: an image, a PDF, the start of a text file, a player, or why there is nothing to show. */
export function PreviewBody({ source, onDownload }: { source: PreviewSource; onDownload: () => void }) {
  const [shown, setShown] = useState<Shown>({ kind: 'loading' })
  const { kind, size, read, openMedia, mime, name } = source
  useEffect(() => {
    const controller = new AbortController()
    let revoke: (() => void) | undefined
    setShown({ kind: 'loading' })
    void (async () => {
      try {
        if (kind === 'none') return setShown({ kind: 'message', text: 'No preview for this kind of file.' })
        if (kind === 'media') {
          if (openMedia === undefined) return setShown({ kind: 'message', text: 'No preview for this kind of file.' })
          const media = await openMedia()
          revoke = media.close
          if (controller.signal.aborted) return media.close()
          return setShown({ kind: 'url', url: media.url })
        }
        if (kind === 'text') {
          const length = Math.min(size, TEXT_PREVIEW_BYTES)
          const parts = await collect(await read({ offset: 0, length }, controller.signal))
          // `fatal: false`: a multi-byte character cut at the end shows as one replacement mark, not an error.
          const text = new TextDecoder('utf-8', { fatal: false }).decode(
            await new Blob(parts as BlobPart[]).arrayBuffer()
          )
          return setShown({ kind: 'text', text, truncated: length < size })
        }
        if (size > MAX_IN_MEMORY_PREVIEW) {
          return setShown({ kind: 'message', text: `This file is too large to preview (${formatBytes(size)}).` })
        }
        const parts = await collect(await read(undefined, controller.signal))
        const type = kind === 'pdf' ? 'application/pdf' : (mime ?? 'image/jpeg')
        const url = URL.createObjectURL(new Blob(parts as BlobPart[], { type }))
        revoke = () => URL.revokeObjectURL(url)
        if (controller.signal.aborted) return revoke()
        setShown({ kind: 'url', url })
      } catch (err) {
        if (!controller.signal.aborted) setShown({ kind: 'message', text: explain(err) })
      }
    })()
    return () => {
      controller.abort()
      revoke?.()
    }
  }, [kind, size, read, openMedia, mime])

  if (shown.kind === 'message') {
    return (
      <div className="preview-message" data-testid="preview-none">
        <Icon name="file" size={36} />
        <p>{shown.text}</p>
        <button type="button" className="button primary" onClick={onDownload}>
          <Icon name="download" /> Download {formatBytes(size)}
        </button>
      </div>
    )
  }
  if (shown.kind === 'text') {
    return (
      <div className="preview-text-wrap">
        <pre className="preview-text" data-testid="preview-text">
          {shown.text}
        </pre>
        {shown.truncated && (
          <p className="preview-note">
            Showing the first {formatBytes(TEXT_PREVIEW_BYTES)} of {formatBytes(size)}.
          </p>
        )}
      </div>
    )
  }
  if (shown.kind === 'url') {
    if (kind === 'pdf') return <iframe className="preview-pdf" src={shown.url} title={name} data-testid="preview-pdf" />
    if (kind === 'media') {
      return mime?.startsWith('audio/') === true ? (
        <audio controls autoPlay src={shown.url} data-testid="preview-media">
          <track kind="captions" />
        </audio>
      ) : (
        <video className="lightbox-image" controls autoPlay src={shown.url} data-testid="preview-media">
          <track kind="captions" />
        </video>
      )
    }
    return <img className="lightbox-image" src={shown.url} alt={name} data-testid="preview-image" />
  }
  return source.thumb !== undefined ? (
    <img src={thumbUrl(source.thumb)} alt={name} className="lightbox-image loading" />
  ) : (
    <p className="lightbox-error">Loading…</p>
  )
}
