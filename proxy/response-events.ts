// The events the proxy listens for on a client response, typed as node:http's
// responses declare them, for the responses Turnout implements itself
// (http1/messages.ts NetResponse, h2-stream.ts H2Response): with these
// overloads a ClientResponse union (decide.ts) stays callable.
import { EventEmitter } from 'node:events';

/** EventEmitter with node:http's response listener overloads. */
export class ResponseEvents extends EventEmitter {
  override on(event: 'close' | 'drain' | 'finish', listener: () => void): this;
  override on(event: string | symbol, listener: (...args: any[]) => void): this;
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.on(event, listener);
  }

  override once(event: 'close' | 'drain' | 'finish', listener: () => void): this;
  override once(event: string | symbol, listener: (...args: any[]) => void): this;
  override once(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.once(event, listener);
  }
}
