export { type CliIo, runCli, USAGE } from './cli.ts'
