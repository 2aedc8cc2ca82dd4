// What the daemon reads back from its engine, whichever transport carried it: HTTP/1.1 on a kept
// connection (cli/daemon/http1_wire.ts) or `fetch` for an `https:` engine (cli/daemon/engine_http.ts).

/** An engine's answer; its body is read with {@link EngineResponse.read}. */
export interface EngineResponse {
  readonly status: number;
  readonly ok: boolean;
  /** A response header (name in any case), or null. */
  header(name: string): string | null;
  /**
   * The next bytes of the body, or null at its end. The bytes are valid until the next call:
   * read them (decode, copy) before reading again.
   */
  read(): Promise<Uint8Array | null>;
  /** The rest of the body as text. */
  text(): Promise<string>;
  /**
   * The caller has what it wanted (a stream's `[DONE]`): the few bytes that end the body are read
   * in the background, so the connection can be reused; if they do not come soon it is closed.
   */
  finish(): void;
  /** Drops the rest of the body: the connection is closed, so the engine stops. */
  cancel(): void;
}
