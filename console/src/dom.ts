/**
 * A small render helper over the plain DOM: `h('button', { onclick, 'aria-label': … }, text)`.
 * Views rebuild their subtree on each change; `swap()` keeps keyboard focus on the element with the
 * same `data-key`, so a duty officer tabbing through the board does not lose their place when a
 * live update arrives.
 */

export type Child = Node | string | number | null | undefined | false | readonly Child[]
type Listener = (event: Event) => void
export type AttrValue = string | number | boolean | null | undefined | Listener
export type Attrs = Record<string, AttrValue>

function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    if (Array.isArray(child)) append(parent, child)
    else if (child instanceof Node) parent.appendChild(child)
    else parent.appendChild(document.createTextNode(String(child)))
  }
}

function applyAttrs(el: Element, attrs: Attrs | null | undefined, skip: ReadonlySet<string>): void {
  if (!attrs) return
  for (const [name, value] of Object.entries(attrs)) {
    if (skip.has(name) || value === null || value === undefined || value === false) continue
    if (typeof value === 'function') {
      el.addEventListener(name.replace(/^on/, ''), value)
      continue
    }
    el.setAttribute(name, value === true ? '' : String(value))
  }
}

const PROPS: ReadonlySet<string> = new Set(['value', 'checked'])
const NO_PROPS: ReadonlySet<string> = new Set()

/** Creates an HTML element. `on…` attributes are listeners; a form control's `value` and `checked` are properties. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  const isControl =
    el instanceof HTMLInputElement || el instanceof HTMLSelectElement || el instanceof HTMLTextAreaElement
  applyAttrs(el, attrs, isControl ? PROPS : NO_PROPS)
  append(el, children)
  // After the children: a <select>'s value needs its options.
  if (attrs && isControl) {
    if (typeof attrs.value === 'string' || typeof attrs.value === 'number') el.value = String(attrs.value)
    if (el instanceof HTMLInputElement && typeof attrs.checked === 'boolean') el.checked = attrs.checked
  }
  return el
}

const SVG_NS = 'http://www.w3.org/2000/svg'

/** Creates an SVG element (charts). */
export function s(tag: string, attrs?: Attrs | null, ...children: Child[]): SVGElement {
  const el = document.createElementNS(SVG_NS, tag)
  if (!(el instanceof SVGElement)) throw new Error(`not an SVG element: ${tag}`)
  applyAttrs(el, attrs, new Set())
  append(el, children)
  return el
}

/**
 * Data, not a label: device, site and firm names, addresses, notes. `translate="no"` says so to
 * browsers' translators, and the English-labels test skips these nodes.
 */
export function datum(value: string | number | null | undefined, attrs: Attrs = {}): HTMLSpanElement {
  return h(
    'span',
    { ...attrs, translate: 'no', class: `datum ${String(attrs.class ?? '')}`.trim() },
    value ?? '',
  )
}

/** Replaces `root`'s content with `nodes`, keeping focus on the element of the same `data-key`. */
export function swap(root: Element, ...nodes: Child[]): void {
  const active = document.activeElement
  const key = active && root.contains(active) ? active.getAttribute('data-key') : null
  const fragment = document.createDocumentFragment()
  append(fragment, nodes)
  root.replaceChildren(fragment)
  if (key) {
    const again = root.querySelector(`[data-key="${CSS.escape(key)}"]`)
    if (again instanceof HTMLElement) again.focus({ preventScroll: true })
  }
}
