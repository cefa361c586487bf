/** A packet that cannot be decoded or does not make sense. Closes only the stream it came on. */
export class ProtocolError extends Error {
  readonly code: string;
  constructor(code: ProtocolErrorCode, message: string) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
  }
}

export type ProtocolErrorCode =
  | 'ERR_MALFORMED_PACKET'
  | 'ERR_MISSING_PAYLOAD'
  | 'ERR_UNKNOWN_PACKET_TYPE'
  | 'ERR_PACKET_TOO_LARGE';
