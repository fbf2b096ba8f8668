import type { SavedSession } from '@shoal/client'

/**
 * "Remember this device" (opt-in): the session (token and master key) kept across tabs and browser restarts.
 * It is stored in IndexedDB encrypted with an AES-GCM key that is generated here as non-extractable: the key
 * itself sits in IndexedDB as a CryptoKey object that page scripts can use but never read out, so the bytes
 * of the master key are never stored in the clear and cannot be copied out as a file or a string. (Anyone with
 * the unlocked browser profile can still open the drive: that is what remembering a device means.) Signing out
 * forgets it.
 */
const DB = 'shoal'
const STORE = 'device'
const RECORD = 'session'

interface DeviceRecord {
  tracker: string
  key: CryptoKey
  iv: Uint8Array
  sealed: ArrayBuffer
}

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1)
    request.onupgradeneeded = () => request.result.createObjectStore(STORE)
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => reject(request.error)
  })
}

async function transact<T>(mode: IDBTransactionMode, run: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open()
  try {
    return await new Promise<T>((resolve, reject) => {
      const request = run(db.transaction(STORE, mode).objectStore(STORE))
      request.onsuccess = () => resolve(request.result)
      request.onerror = () => reject(request.error)
    })
  } finally {
    db.close()
  }
}

export async function rememberDevice(session: SavedSession): Promise<void> {
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt'])
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv },
    key,
    new TextEncoder().encode(JSON.stringify(session))
  )
  const record: DeviceRecord = { tracker: session.tracker, key, iv, sealed }
  await transact('readwrite', (store) => store.put(record, RECORD))
}

/** The remembered session for this tracker, if any (undefined when none, or when it cannot be opened). */
export async function rememberedSession(tracker: string): Promise<SavedSession | undefined> {
  try {
    const record = await transact<DeviceRecord | undefined>('readonly', (store) => store.get(RECORD))
    if (record === undefined || record.tracker !== tracker) return undefined
    const plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: record.iv as Uint8Array<ArrayBuffer> },
      record.key,
      record.sealed
    )
    return JSON.parse(new TextDecoder().decode(plain)) as SavedSession
  } catch {
    return undefined
  }
}

export async function forgetDevice(): Promise<void> {
  await transact('readwrite', (store) => store.delete(RECORD)).catch(() => undefined)
}
