// Address facts shared by the controller and the proxy.

/**
 * Whether an address or host name only reaches this machine (127.0.0.0/8,
 * ::1, localhost): the only place the snapshot stream may go unencrypted.
 */
export function isLoopback(address: string): boolean {
  return address === '::1' || address === 'localhost' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address);
}
