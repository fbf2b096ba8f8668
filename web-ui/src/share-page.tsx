import { SharedFile } from '@shoal/client'
import { ErrorCode, isShoalError, parseShareFragment, type ShareInfo } from '@shoal/core'
import { type FormEvent, useEffect, useMemo, useRef, useState } from 'react'
import { explain } from './drive.ts'
import { errorMessage, formatBytes, formatDate, formatDuration, formatRate } from './format.ts'
import { fileIcon, Icon, Logo } from './icons.tsx'
import { PreviewBody, type PreviewSource } from './preview-body.tsx'
import { previewKind } from './preview-kind.ts'
import { ProgressMeter } from './progress-meter.ts'
import { saveFile } from './save.ts'

type State =
  | { kind: 'loading' }
  | { kind: 'refused'; title: string; text: string }
  | { kind: 'password'; info: ShareInfo; error?: string; busy?: boolean }
  | { kind: 'ready'; file: SharedFile }

interface Progress {
  bytes: number
  total: number
  /** 0 while not known yet. */
  speed: number
  /** Seconds, once the speed is known. */
  remaining?: number
  state: 'running' | 'done' | 'failed'
  error?: string
}

/** Why a share cannot be opened, as a page a visitor understands. */
function refusal(err: unknown): { title: string; text: string } {
  if (isShoalError(err, ErrorCode.SHARE_REMOVED)) return { title: 'Removed by the operator', text: explain(err) }
  if (isShoalError(err, ErrorCode.SHARE_REVOKED)) return { title: 'Link revoked', text: explain(err) }
  if (isShoalError(err, ErrorCode.SHARE_EXPIRED)) return { title: 'Link expired', text: explain(err) }
  if (isShoalError(err, ErrorCode.SHARE_NOT_FOUND)) return { title: 'Link not found', text: explain(err) }
  if (isShoalError(err, ErrorCode.DECRYPT_FAILED) || isShoalError(err, ErrorCode.INVALID_INPUT)) {
    return {
      title: 'Damaged link',
      text: 'This link is damaged or incomplete: its key does not open the file. Ask the sender for the full link.'
    }
  }
  return { title: 'Cannot open this link', text: explain(err) }
}

/**
 * The page a share link opens, in any browser, without an account. The key comes from the URL fragment (never
 * sent anywhere); the file is fetched from the storage nodes and decrypted here.
 */
export function SharePage({ tracker }: { tracker: string }) {
  const shareId = decodeURIComponent(location.pathname.slice('/s/'.length).split('/')[0] ?? '')
  const fragment = location.hash
  const [state, setState] = useState<State>({ kind: 'loading' })
  const [password, setPassword] = useState('')
  const [progress, setProgress] = useState<Progress>()
  const controller = useRef<AbortController | undefined>(undefined)

  useEffect(() => {
    let file: SharedFile | undefined
    void (async () => {
      try {
        parseShareFragment(fragment)
        const info = await SharedFile.inspect(tracker, shareId)
        if (info.password !== undefined) return setState({ kind: 'password', info })
        file = await SharedFile.open({ tracker, shareId, fragment, codec: 'workers' })
        setState({ kind: 'ready', file })
      } catch (err) {
        setState({ kind: 'refused', ...refusal(err) })
      }
    })()
    return () => {
      void file?.stop()
    }
  }, [tracker, shareId])

  const unlock = async (e: FormEvent) => {
    e.preventDefault()
    if (state.kind !== 'password') return
    setState({ ...state, busy: true })
    try {
      const file = await SharedFile.open({ tracker, shareId, fragment, password, codec: 'workers' })
      setState({ kind: 'ready', file })
    } catch (err) {
      if (isShoalError(err, ErrorCode.SHARE_PASSWORD))
        setState({ kind: 'password', info: state.info, error: explain(err) })
      else setState({ kind: 'refused', ...refusal(err) })
    }
  }

  const download = async () => {
    if (state.kind !== 'ready') return
    const { file } = state
    const abort = new AbortController()
    controller.current = abort
    const meter = new ProgressMeter(file.meta.size)
    setProgress({ bytes: 0, total: file.meta.size, speed: 0, state: 'running' })
    // Redrawn from the meter between the engine's per-segment reports, so the bar moves smoothly.
    const ticker = setInterval(() => {
      const remaining = meter.remaining()
      setProgress((p) =>
        p?.state !== 'running'
          ? p
          : {
              bytes: meter.shown(),
              total: meter.total,
              speed: meter.speed(),
              state: 'running',
              ...(remaining === undefined ? {} : { remaining })
            }
      )
    }, 200)
    try {
      const stream = file.download({ signal: abort.signal, onProgress: (p) => meter.report(p.bytes) })
      await saveFile(
        {
          name: file.meta.name,
          size: file.meta.size,
          ...(file.meta.mime === undefined ? {} : { mime: file.meta.mime })
        },
        stream,
        abort.signal
      )
      clearInterval(ticker)
      setProgress({ bytes: file.meta.size, total: file.meta.size, speed: meter.average() ?? 0, state: 'done' })
    } catch (err) {
      clearInterval(ticker)
      if (
        isShoalError(err, ErrorCode.SHARE_REVOKED) ||
        isShoalError(err, ErrorCode.SHARE_EXPIRED) ||
        isShoalError(err, ErrorCode.SHARE_REMOVED)
      ) {
        setState({ kind: 'refused', ...refusal(err) })
        return
      }
      setProgress((p) => ({
        bytes: p?.bytes ?? 0,
        total: file.meta.size,
        speed: 0,
        state: 'failed',
        error: isShoalError(err) ? explain(err) : errorMessage(err)
      }))
    }
  }

  return (
    <div className="share-page">
      <header className="share-brand">
        <Logo size={30} />
        <span>Shoal</span>
      </header>
      <div className="card share-card" data-state={state.kind}>
        {state.kind === 'loading' && <p className="muted">Opening the link…</p>}
        {state.kind === 'refused' && (
          <div className="refused" role="alert">
            <div className="empty-icon danger">
              <Icon name="alert" size={32} />
            </div>
            <h1>{state.title}</h1>
            <p>{state.text}</p>
          </div>
        )}
        {state.kind === 'password' && (
          <form className="unlock" onSubmit={unlock}>
            <div className="empty-icon">
              <Icon name="lock" size={32} />
            </div>
            <h1>This file is protected</h1>
            <p className="muted">Enter the password you were given to open it.</p>
            <label>
              Password
              <input
                type="password"
                name="password"
                autoComplete="off"
                value={password}
                onChange={(e) => setPassword(e.target.value)}
              />
            </label>
            {state.error !== undefined && (
              <p className="form-error" role="alert">
                <Icon name="alert" size={16} /> {state.error}
              </p>
            )}
            <button
              type="submit"
              className="button primary wide"
              disabled={state.busy === true || password.length === 0}
            >
              {state.busy === true ? 'Unlocking…' : 'Unlock'}
            </button>
          </form>
        )}
        {state.kind === 'ready' && (
          <div className="shared-file">
            <div className="shared-icon">
              <Icon name={fileIcon(state.file.meta.mime)} size={34} />
            </div>
            <h1 data-testid="shared-name">{state.file.meta.name}</h1>
            <p className="muted">
              {formatBytes(state.file.meta.size)}
              {state.file.info.expiresAt !== undefined && ` · link expires ${formatDate(state.file.info.expiresAt)}`}
            </p>
            {progress === undefined || progress.state === 'failed' ? (
              <button type="button" className="button primary wide" onClick={() => void download()}>
                <Icon name="download" /> Download
              </button>
            ) : (
              <div className="share-progress" data-state={progress.state}>
                {progress.state === 'done' ? (
                  <p className="share-done">
                    <Icon name="check" /> Downloaded{progress.speed > 0 ? ` · ${formatRate(progress.speed)}` : ''}
                  </p>
                ) : (
                  <>
                    <div className="progress">
                      <div
                        style={{ width: `${progress.total === 0 ? 100 : (progress.bytes / progress.total) * 100}%` }}
                      />
                    </div>
                    <p className="muted" data-testid="share-status">
                      {progress.speed > 0 && progress.remaining !== undefined
                        ? `${formatBytes(progress.bytes)} of ${formatBytes(progress.total)} · ${formatRate(progress.speed)} · ${formatDuration(progress.remaining)} left`
                        : `${formatBytes(progress.bytes)} of ${formatBytes(progress.total)} · starting…`}
                    </p>
                    <button type="button" className="button small" onClick={() => controller.current?.abort()}>
                      Cancel
                    </button>
                  </>
                )}
              </div>
            )}
            {progress?.state === 'failed' && (
              <p className="form-error" role="alert">
                {progress.error}
              </p>
            )}
          </div>
        )}
        {state.kind === 'ready' && <SharedPreview file={state.file} onDownload={() => void download()} />}
      </div>
      <p className="fineprint center">
        <Icon name="lock" size={14} /> Decrypted in your browser. The key is in the link and never reaches a server.
      </p>
    </div>
  )
}

/** Images, PDFs and text files are shown on the page (decrypted here) under the Download button. */
function SharedPreview({ file, onDownload }: { file: SharedFile; onDownload: () => void }) {
  const source = useMemo<PreviewSource>(
    () => ({
      kind: previewKind(file.meta.mime, file.meta.name),
      name: file.meta.name,
      size: file.meta.size,
      mime: file.meta.mime,
      read: async (range, signal) => file.download({ signal, ...(range ?? {}) })
    }),
    [file]
  )
  if (source.kind === 'none' || source.kind === 'media') return null
  return (
    <div className="share-preview" data-kind={source.kind}>
      <PreviewBody source={source} onDownload={onDownload} />
    </div>
  )
}
