/** See bundle.js. */
export function freshBundle(options?: { env?: Record<string, string | undefined>; cli?: URL }): string | undefined
