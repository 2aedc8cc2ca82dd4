// A button that copies a text (an API key) to the clipboard; without JavaScript the text stays
// selectable beside it.
import { useState } from "preact/hooks";

/** Copies `text` on click and says so. */
export default function CopyButton(props: { text: string }) {
  const [copied, setCopied] = useState<"no" | "yes" | "failed">("no");
  const copy = async () => {
    try {
      const clipboard = (globalThis.navigator as { clipboard?: { writeText(t: string): Promise<void> } })
        .clipboard;
      if (!clipboard) throw new Error("no clipboard");
      await clipboard.writeText(props.text);
      setCopied("yes");
    } catch {
      setCopied("failed");
    }
  };
  return (
    <button type="button" class="copy" onClick={copy}>
      {copied === "yes" ? "Copied" : copied === "failed" ? "Select and copy it" : "Copy"}
    </button>
  );
}
