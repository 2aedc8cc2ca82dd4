// Direct mode's consumer and node side (docs/protocol.md §14): the encrypted framing and the
// ticket. Not re-exported from shared/mod.ts: the control plane must never import the code that
// opens a prompt (testing/import_directions.ts checks it).
export {
  type ChatRequest,
  type ConsumerSecp,
  DirectError,
  privateChat,
  type PrivateChatOptions,
  type RouteAnswer,
  type RouteCandidate,
} from "./client.ts";
export { countPromptTokens, countTextTokens } from "./count.ts";
export { conversationKey, type SharedXBackend } from "./conversation_key.ts";
export {
  type FrameDirection,
  FrameOpener,
  FrameSealer,
  type FrameSealerOptions,
  FramingError,
  type FramingErrorCode,
  MAX_FRAME_PAYLOAD,
  MAX_FRAME_PLAINTEXT,
  type Opened,
} from "./framing.ts";
export { fastestNip44, type Nip44Cipher, NOSTR_TOOLS_NIP44 } from "./nip44_cipher.ts";
export { nativeNip44 } from "./nip44_native.ts";
export {
  createTicket,
  TICKET_KIND,
  type TicketCheck,
  type TicketContent,
  type TicketRefusal,
  type TicketTarget,
  type VerifiedTicket,
  verifyTicket,
} from "./ticket.ts";
export {
  createUsageAck,
  USAGE_ACK_KIND,
  type UsageAckContent,
  type UsageAckRefusal,
  type VerifiedUsageAck,
  verifyUsageAck,
} from "./acks.ts";
export {
  createModelKeyAnnouncement,
  createModelKeyGrant,
  MODEL_KEY_GRANT_KIND,
  MODEL_KEY_KIND,
  type ModelKeyContent,
  type VerifiedModelKey,
  type VerifiedModelKeyGrant,
  verifyModelKeyAnnouncement,
  verifyModelKeyGrant,
} from "./model_keys.ts";
