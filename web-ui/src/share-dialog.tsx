import type { ShoalClient } from '@shoal/client'
import { type FormEvent, useState } from 'react'
import { Dialog, DialogActions, FormError } from './dialog.tsx'
import { explain } from './drive.ts'
import { Icon } from './icons.tsx'

const EXPIRY: Record<string, number | undefined> = {
  never: undefined,
  '1d': 86_400_000,
  '7d': 7 * 86_400_000,
  '30d': 30 * 86_400_000
}

/** The link is built here: the fragment (after '#') carries the file key and never reaches a server. */
export function shareLink(shareId: string, fragment: string): string {
  return `${location.origin}/s/${shareId}#${fragment}`
}

export function ShareDialog({
  client,
  path,
  name,
  onClose,
  onCreated
}: {
  client: ShoalClient
  path: string
  name: string
  onClose: () => void
  onCreated: () => void
}) {
  const [password, setPassword] = useState('')
  const [expiry, setExpiry] = useState('never')
  const [link, setLink] = useState<string>()
  const [error, setError] = useState<string>()
  const [busy, setBusy] = useState(false)

  const create = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      const ttl = EXPIRY[expiry]
      const { share, fragment } = await client.share(path, {
        ...(password.length > 0 ? { password } : {}),
        ...(ttl === undefined ? {} : { expiresAt: Date.now() + ttl })
      })
      setLink(shareLink(share.id, fragment))
      onCreated()
    } catch (err) {
      setError(explain(err))
    }
    setBusy(false)
  }

  return (
    <Dialog title={`Share “${name}”`} onClose={onClose}>
      {link === undefined ? (
        <form onSubmit={create}>
          <p className="fineprint">
            Anyone with the link can download this file. The key that decrypts it is part of the link itself and is
            never sent to Shoal.
          </p>
          <label>
            Password (optional)
            <input
              type="password"
              name="share-password"
              autoComplete="new-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </label>
          <label>
            Link expires
            <select name="expiry" value={expiry} onChange={(e) => setExpiry(e.target.value)}>
              <option value="never">Never</option>
              <option value="1d">In 1 day</option>
              <option value="7d">In 7 days</option>
              <option value="30d">In 30 days</option>
            </select>
          </label>
          <FormError error={error} />
          <DialogActions onCancel={onClose}>
            <button type="submit" className="button primary" disabled={busy}>
              <Icon name="link" /> {busy ? 'Creating…' : 'Create link'}
            </button>
          </DialogActions>
        </form>
      ) : (
        <ShareLinkResult link={link} password={password.length > 0} onClose={onClose} />
      )}
    </Dialog>
  )
}

/** A link ready to copy (just created, or made again from the Shared links list). */
export function ShareLinkResult({ link, password, onClose }: { link: string; password: boolean; onClose: () => void }) {
  const [copied, setCopied] = useState(false)
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(link)
      setCopied(true)
    } catch {
      setCopied(false)
    }
  }
  return (
    <div className="share-result">
      <label>
        Share link
        <input name="share-link" readOnly value={link} onFocus={(e) => e.target.select()} />
      </label>
      {password && (
        <p className="fineprint">
          <Icon name="lock" size={14} /> Send the password separately: the link alone does not open the file.
        </p>
      )}
      <div className="dialog-actions">
        <button type="button" className="button" onClick={copy}>
          <Icon name={copied ? 'check' : 'copy'} /> {copied ? 'Copied' : 'Copy link'}
        </button>
        <button type="button" className="button primary" onClick={onClose}>
          Done
        </button>
      </div>
    </div>
  )
}
