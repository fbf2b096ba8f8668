import { type FormEvent, type ReactNode, useEffect, useRef, useState } from 'react'

/** Closes an overlay on Escape. */
export function useEscape(onClose: () => void): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose()
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [onClose])
}

export function FormError({ error }: { error: string | undefined }) {
  if (error === undefined) return null
  return (
    <p className="form-error" role="alert">
      {error}
    </p>
  )
}

/** Cancel plus the dialog's own buttons, right-aligned. */
export function DialogActions({ onCancel, children }: { onCancel: () => void; children: ReactNode }) {
  return (
    <div className="dialog-actions">
      <button type="button" className="button" onClick={onCancel}>
        Cancel
      </button>
      {children}
    </div>
  )
}

export function Dialog({ title, children, onClose }: { title: string; children: ReactNode; onClose: () => void }) {
  useEscape(onClose)
  return (
    <div className="overlay">
      <div className="card dialog" role="dialog" aria-modal="true" aria-label={title}>
        <h2>{title}</h2>
        {children}
      </div>
    </div>
  )
}

/** A one-field form in a dialog (new folder, rename). */
export function PromptDialog({
  title,
  label,
  initial = '',
  action,
  onSubmit,
  onClose
}: {
  title: string
  label: string
  initial?: string
  action: string
  onSubmit: (value: string) => Promise<void>
  onClose: () => void
}) {
  const [value, setValue] = useState(initial)
  const [error, setError] = useState<string>()
  const [busy, setBusy] = useState(false)
  const input = useRef<HTMLInputElement>(null)
  useEffect(() => {
    const el = input.current
    if (el === null) return
    el.focus()
    const dot = initial.lastIndexOf('.')
    el.setSelectionRange(0, dot > 0 ? dot : initial.length)
  }, [initial])
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const trimmed = value.trim()
    if (trimmed.length === 0) return setError('A name is needed.')
    if (trimmed.includes('/')) return setError('Names cannot contain "/".')
    setBusy(true)
    try {
      await onSubmit(trimmed)
      onClose()
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err))
      setBusy(false)
    }
  }
  return (
    <Dialog title={title} onClose={onClose}>
      <form onSubmit={submit}>
        <label>
          {label}
          <input ref={input} name="value" value={value} onChange={(e) => setValue(e.target.value)} />
        </label>
        <FormError error={error} />
        <DialogActions onCancel={onClose}>
          <button type="submit" className="button primary" disabled={busy}>
            {action}
          </button>
        </DialogActions>
      </form>
    </Dialog>
  )
}
