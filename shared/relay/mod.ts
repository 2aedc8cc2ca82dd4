// Nostr relays: the multi-relay client (publish, subscribe, verified and deduplicated events),
// live offers and their discovery, and the local relay server. cli/ and web/ import through here.
export {
  type Filter,
  type PoolSubscription,
  type PublishResult,
  RelayPool,
  type RelayPoolOptions,
  type SubscribeHandlers,
  type VerifyEvent,
} from "./relay_pool.ts";
export { MAX_MESSAGE_BYTES, reconnectDelayMs } from "./relay_connection.ts";
