// Canary prompts: varied, natural requests a consumer could send, each with a stable key (the
// reference answers are kept per model and key). Some carry a rule any honest model meets at
// greedy decoding (repeat a sentence exactly); the others are checked against a reference answer.

/** One canary request's prompt. */
export interface CanaryPrompt {
  /** Stable across restarts: which template and which subject. */
  key: string;
  messages: { role: "system" | "user"; content: string }[];
  /** Text the answer must contain (a rule-checked prompt); null: checked against a reference. */
  expect: string | null;
  maxTokens: number;
  /** The sampling seed: fixed per prompt, so answers repeat; one of those consumers often pick. */
  seed: number;
}

const SENTENCES = [
  "The library opens at nine on weekdays and at ten on Saturdays.",
  "Our quarterly report is due on the last Friday of March.",
  "Please bring a reusable water bottle to the hiking trip.",
  "The new bus line connects the airport with the central station.",
  "Fresh basil grows best in a sunny spot with regular watering.",
  "The meeting has been moved to the small conference room upstairs.",
  "Remember to back up your laptop before installing the update.",
  "The bakery on Elm Street sells sourdough bread every morning.",
  "Our team will present the prototype to the client next Tuesday.",
  "The museum offers free entry on the first Sunday of each month.",
  "A short walk after dinner can help you sleep better at night.",
  "The package should arrive within three to five business days.",
];

const REPEAT_TEMPLATES = [
  (s: string) => `Repeat the following sentence exactly, with nothing else: ${s}`,
  (s: string) => `Can you copy this line back to me word for word? ${s}`,
  (s: string) => `Echo this text verbatim so I can check my clipboard: ${s}`,
  (s: string) => `I need this sentence repeated exactly as written: ${s}`,
];

const TOPICS = [
  "how tides work",
  "why the sky is blue",
  "what a hash table is",
  "how to brew green tea",
  "the difference between weather and climate",
  "what compound interest means",
  "how vaccines train the immune system",
  "why bread dough rises",
  "what an API is",
  "how solar panels make electricity",
  "what a leap year is",
  "how to keep houseplants alive",
  "what photosynthesis does",
  "how a bicycle gear works",
  "why cats purr",
  "what a spreadsheet formula is",
];

const QUESTION_TEMPLATES = [
  (t: string) => `Explain ${t} in two sentences.`,
  (t: string) => `In plain words, can you tell me ${t}?`,
  (t: string) => `Give me a short, friendly summary of ${t}.`,
  (t: string) => `I'm curious: ${t}? Keep it brief.`,
];

const SYSTEM = "You are a helpful assistant.";

// Values consumers often send, so no single seed or limit marks a request as a canary.
const SEEDS = [42, 0, 1, 7, 123, 1234, 2024, 31337];
const MAX_TOKENS = [96, 128, 150, 200, 256];

/** A small stable hash of a prompt key (FNV-1a), to pick its seed and limit. */
function keyHash(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function sampling(key: string): { maxTokens: number; seed: number } {
  const h = keyHash(key);
  return { seed: SEEDS[h % SEEDS.length], maxTokens: MAX_TOKENS[(h >>> 8) % MAX_TOKENS.length] };
}

/** The number of distinct canary prompts. */
export const CANARY_PROMPT_COUNT = SENTENCES.length * REPEAT_TEMPLATES.length +
  TOPICS.length * QUESTION_TEMPLATES.length;

/** A canary prompt drawn with `random` (Math.random's shape), about half of them rule-checked. */
export function pickCanaryPrompt(random: () => number): CanaryPrompt {
  const pick = <T>(list: readonly T[]) => Math.floor(random() * list.length) % list.length;
  const withSystem = random() < 0.5;
  const messages = (content: string): CanaryPrompt["messages"] =>
    withSystem
      ? [{ role: "system", content: SYSTEM }, { role: "user", content }]
      : [{ role: "user", content }];
  if (random() < 0.5) {
    const t = pick(REPEAT_TEMPLATES);
    const s = pick(SENTENCES);
    const key = `repeat:${t}:${s}:${withSystem ? 1 : 0}`;
    return {
      key,
      messages: messages(REPEAT_TEMPLATES[t](SENTENCES[s])),
      expect: SENTENCES[s],
      ...sampling(key),
    };
  }
  const t = pick(QUESTION_TEMPLATES);
  const s = pick(TOPICS);
  const key = `ask:${t}:${s}:${withSystem ? 1 : 0}`;
  return { key, messages: messages(QUESTION_TEMPLATES[t](TOPICS[s])), expect: null, ...sampling(key) };
}
