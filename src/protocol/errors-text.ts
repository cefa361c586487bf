/**
 * Error and status texts that upstream peers and operators match on. Kept
 * byte-for-byte as upstream sends them.
 */
export const TEXT = {
  noAgent: 'No agent available',
  backendUninitialized: 'backend uninitialized',
  closeReqFailed: 'CLOSE_REQ to backend failed',
  mismatchedIDs: 'mismatched connection IDs',
  unrecognizedConnectID: 'unrecognized connectID',
  backendDialTimeout: 'timed out waiting for backend dial',
  httpNoTunnels: 'currently no tunnels available: ',
  httpOnlyConnect: 'this proxy only supports CONNECT passthrough',
  httpBackendContext: 'Backend context error: ',
  clientBackstop: 'dial timeout, backstop',
  clientContext: 'dial timeout, context',
  clientTunnelClosed: 'tunnel closed',
  clientCloseTimeout: 'close timeout',
  expectedOneAgentID: 'expected one agent ID',
  readyOK: 'ok',
  serverNotReady: 'no connection to any proxy agent',
  agentNotReady: '[-]server-connected failed: no servers connected',
} as const;
