/** Every long-lived part of the OCS has the same lifecycle; src/main.ts starts them in order and stops them in reverse. */
export interface Component {
  readonly name: string
  start(): Promise<void>
  stop(): Promise<void>
}
