/**
 * Defaults and timing constants of the client library, in one place.
 * Values mirror upstream's Go konnectivity-client where it has one.
 */

/** Backstop for a dial that gets no DIAL_RSP (upstream: hard-coded 30 s, "dial timeout, backstop"). */
export const DIAL_TIMEOUT_MS = 30_000;

/** How long end() waits for CLOSE_RSP after sending CLOSE_REQ (upstream: 10 s, "close timeout"). */
export const CLOSE_TIMEOUT_MS = 10_000;

/** How long createTunnel() waits for the gRPC channel to become ready. */
export const CONNECT_TIMEOUT_MS = 30_000;

/**
 * Largest payload of one DATA packet we send. grpc-go peers refuse messages
 * over 4 MiB by default; 1 MiB leaves room and keeps per-packet memory small.
 */
export const MAX_DATA_CHUNK = 1024 * 1024;

/** Readable buffer of a TunnelSocket before we stop pulling packets from the stream. */
export const SOCKET_READ_HIGH_WATER_MARK = 64 * 1024;

/** Writable buffer of a TunnelSocket before write() returns false. */
export const SOCKET_WRITE_HIGH_WATER_MARK = 64 * 1024;

/**
 * HTTP/2 receive window of the tunnel's connection and of each Proxy stream
 * (grpc-js default: 64 KiB, which makes a download wait for a WINDOW_UPDATE
 * every 64 KiB). A reader that stops leaves at most this much per stream in
 * the channel's buffers. Chosen by measurement (bench/).
 */
export const CHANNEL_FLOW_CONTROL_WINDOW = 1024 * 1024;

/** Largest gRPC message the client accepts (grpc-js's and grpc-go's default receive limit: 4 MiB). */
export const MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024;
