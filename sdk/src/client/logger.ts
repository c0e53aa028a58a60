/** A minimal logger; the SDK logs nothing unless given one. */
export interface SdkLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}
