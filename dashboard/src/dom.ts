/**
 * Element building without HTML strings: text always goes in as text, so nothing the API returns
 * (stream names, problem details) can become markup, and no inline handler or style attribute is
 * ever written for the CSP to block.
 */
type Attributes = Record<string, string | number | boolean | undefined>;
type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (name.startsWith("on") || name === "style")
      throw new Error(`h(): ${name} is not allowed; use addEventListener or a class`);
    element.setAttribute(name, value === true ? "" : String(value));
  }
  element.append(
    ...children
      .filter((child): child is Node | string | number => child !== null && child !== undefined && child !== false)
      .map((child) => (typeof child === "number" ? String(child) : child)),
  );
  return element;
}

/** A one-second countdown; `render` gets the seconds left (down to 0), `done` runs once at 0. Returns a cancel function. */
export function countdown(seconds: number, render: (secondsLeft: number) => void, done: () => void): () => void {
  let left = Math.max(0, Math.ceil(seconds));
  render(left);
  if (left === 0) {
    const immediate = setTimeout(done, 0);
    return () => clearTimeout(immediate);
  }
  const timer = setInterval(() => {
    left -= 1;
    render(left);
    if (left <= 0) {
      clearInterval(timer);
      done();
    }
  }, 1000);
  return () => clearInterval(timer);
}
