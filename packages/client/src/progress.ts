export interface TransferProgress {
  /** Plaintext bytes done so far. */
  bytes: number
  /** Plaintext bytes in the whole transfer. */
  total: number
  /** Bytes moved over the network so far (pieces, parity included). */
  wireBytes: number
}

export type ProgressListener = (progress: TransferProgress) => void
