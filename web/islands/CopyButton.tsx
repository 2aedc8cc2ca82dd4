// A button that copies a text (an API key) to the clipboard; without JavaScript the text stays
// selectable beside it and the button is not shown (rendered hidden, shown once the island runs).
import { useEffect, useState } from "preact/hooks";

/** Copies `text` on click and says so. */
export default function CopyButton(props: { text: string }) {
  const [copied, setCopied] = useState<"no" | "yes" | "failed">("no");
  const [live, setLive] = useState(false);
  useEffect(() => setLive(true), []);
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
    <button type="button" class="copy" onClick={copy} hidden={!live}>
      {copied === "yes" ? "Copied" : copied === "failed" ? "Select and copy it" : "Copy"}
    </button>
  );
}
