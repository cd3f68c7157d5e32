// Hop-by-hop fields (and Host, which the reference proxies write themselves),
// shared by node-raw.ts and node-hybrid.ts. Benchmark code only.
export const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);
