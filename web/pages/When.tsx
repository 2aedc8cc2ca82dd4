// A UTC timestamp as the dashboard's tables show it.
export const time = (d: Date) => d.toISOString().slice(0, 19).replace("T", " ");

/** A UTC date and time that breaks between the two, never inside the date. */
export function When(props: { at: Date }) {
  const [day, clock] = time(props.at).split(" ");
  return (
    <>
      <span class="nowrap">{day}</span> {clock}
    </>
  );
}
