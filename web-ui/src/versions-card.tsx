import type { ShoalClient } from '@shoal/client'
import type { VersionPolicyResponse } from '@shoal/core'
import { type FormEvent, useCallback, useEffect, useRef, useState } from 'react'
import { FormError } from './dialog.tsx'
import { explain } from './drive.ts'
import { formatBytes } from './format.ts'

/** An empty field is "no limit"; anything else must be a whole number (the tracker checks the range). */
function limit(field: string, text: string): number | null {
  if (text.trim() === '') return null
  if (!/^\d+$/.test(text.trim())) throw new Error(`${field}: enter a whole number, or leave it empty for no limit.`)
  return Number(text)
}

/**
 * The account's version policy (docs/versions.md), as `shoal versions --policy` shows and sets it: how many older
 * versions of each file are kept and for how long, and what they take up now (counted in the storage used).
 */
export function VersionsCard({ client }: { client: ShoalClient }) {
  const [policy, setPolicy] = useState<VersionPolicyResponse>()
  const [keep, setKeep] = useState('')
  const [days, setDays] = useState('')
  const [error, setError] = useState<string>()
  const [saved, setSaved] = useState(false)
  const [busy, setBusy] = useState(false)
  /**
   * The fields were typed in since the policy was last shown: a load answering late (a slow tracker, the effect
   * running again) updates the summary but never overwrites them (CI once saved the old values it had put back
   * over what the user typed).
   */
  const edited = useRef(false)

  const show = useCallback((p: VersionPolicyResponse, fields: 'always' | 'unless-edited') => {
    setPolicy(p)
    if (fields === 'unless-edited' && edited.current) return
    edited.current = false
    setKeep(p.keep === null ? '' : String(p.keep))
    setDays(p.days === null ? '' : String(p.days))
  }, [])

  useEffect(() => {
    client.versionPolicy().then(
      (p) => show(p, 'unless-edited'),
      (err: unknown) => setError(explain(err))
    )
  }, [client, show])

  const edit = (set: (value: string) => void, value: string): void => {
    edited.current = true
    set(value)
  }

  const save = async (e: FormEvent) => {
    e.preventDefault()
    setError(undefined)
    setSaved(false)
    setBusy(true)
    try {
      show(await client.setVersionPolicy({ keep: limit('Versions', keep), days: limit('Days', days) }), 'always')
      setSaved(true)
    } catch (err) {
      setError(explain(err))
    } finally {
      setBusy(false)
    }
  }

  return (
    <section className="card account-card" aria-label="Versions">
      <h2>Versions</h2>
      <p data-testid="versions-summary">
        {policy === undefined
          ? 'Loading…'
          : `${policy.versions} older version${policy.versions === 1 ? '' : 's'} kept, ${formatBytes(policy.bytes)} (counted in your storage)`}
      </p>
      <form onSubmit={save}>
        <p className="fineprint">
          Uploading a file with the same name keeps the previous one as a version. Versions past these limits are
          removed; leave a field empty for no limit.
        </p>
        <label>
          Keep the last … versions of each file
          <input
            name="versions-keep"
            inputMode="numeric"
            value={keep}
            onChange={(e) => edit(setKeep, e.target.value)}
          />
        </label>
        <label>
          For … days
          <input
            name="versions-days"
            inputMode="numeric"
            value={days}
            onChange={(e) => edit(setDays, e.target.value)}
          />
        </label>
        <FormError error={error} />
        {saved && <p className="muted">Saved.</p>}
        <button type="submit" className="button small" disabled={busy}>
          {busy ? 'Saving…' : 'Save version policy'}
        </button>
      </form>
    </section>
  )
}
