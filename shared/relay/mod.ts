// Nostr relays: the multi-relay client (publish, subscribe, verified and deduplicated events),
// live offers and their discovery, and the local relay server. cli/ and web/ import through here.
export {
  type Filter,
  isRelayUrl,
  type PoolSubscription,
  type PublishResult,
  RelayPool,
  type RelayPoolOptions,
  type SubscribeHandlers,
  type VerifyEvent,
} from "./relay_pool.ts";
export { MAX_MESSAGE_BYTES, reconnectDelayMs } from "./relay_connection.ts";
export {
  MAX_OFFER_TTL_S,
  type Offer,
  OFFER_KIND,
  OFFER_TAG,
  type OfferCheck,
  offerDeletionTemplate,
  type OfferInput,
  offerOfVerifiedEvent,
  offerTemplate,
  readOffer,
} from "./offer.ts";
export { discoverOffers, type DiscoverOptions, offerFilter } from "./discovery.ts";
export {
  fetchRelayEvidence,
  rankOffers,
  type RelayEvidence,
  type RelayEvidenceOptions,
  relayReputation,
  RelayReputations,
  type RelayReputationsOptions,
  reputationBucketOf,
} from "./relay_reputation.ts";
