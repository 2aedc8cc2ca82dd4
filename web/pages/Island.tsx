// Server side of an island: its server-rendered HTML inside a marker element, its props as a
// JSON data block (no inline script runs: the CSP forbids it), and its module.
import type { ComponentChildren } from "preact";
import type { IslandName } from "./islands.ts";

/** Renders `children` (the island's own server render) so the island's module can hydrate it. */
export function Island(props: { name: IslandName; props: unknown; children: ComponentChildren }) {
  // "<" is escaped so the JSON can never close its script element.
  const json = JSON.stringify(props.props).replaceAll("<", "\\u003c");
  return (
    <>
      <div data-island={props.name}>{props.children}</div>
      <script type="application/json" dangerouslySetInnerHTML={{ __html: json }} />
      <script type="module" src={`/assets/islands/${props.name}.js`} />
    </>
  );
}
