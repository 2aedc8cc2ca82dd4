// Test doubles shared by end-to-end tests and the dev launcher.

export {
  createTestEngineHandler,
  splitTokens,
  startTestEngine,
  TEST_ENGINE_FAILURES,
  TEST_ENGINE_LIES,
  TestEngineDeath,
} from "./test_engine.ts";
export type {
  TestEngine,
  TestEngineConfig,
  TestEngineEvent,
  TestEngineFailure,
  TestEngineHandler,
  TestEngineLie,
  TestEngineOptions,
} from "./test_engine.ts";
export { cliCommand, type CliRun, runCli } from "./run_cli.ts";
export {
  type ChildOptions,
  denoCommand,
  denoTaskCommand,
  type WatchedOutput,
  watchOutput,
} from "./child_output.ts";
export { sampleAdvert } from "./node_advert.ts";
export { startFakeCoinPayPortal } from "./fake_coinpayportal.ts";
export type {
  FakeCoinPayPortal,
  FakeCoinPayPortalOptions,
  FakeConfirmOptions,
  FakePayment,
  FakePayout,
  FakeWebhookDelivery,
  WebhookDeliveryResult,
} from "./fake_coinpayportal.ts";
export { createFakeHubHandler, fakeHubBytes, FakeHubDrop, startFakeHub } from "./fake_hub.ts";
export type {
  FakeHub,
  FakeHubFileSpec,
  FakeHubHandler,
  FakeHubOptions,
  FakeHubRepoSpec,
  FakeHubRequest,
} from "./fake_hub.ts";
export { within } from "./within.ts";
