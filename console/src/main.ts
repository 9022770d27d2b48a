/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The root tsconfig (Node libraries) also checks console/: the page code and page.evaluate callbacks need the DOM.
/** Entry point of the browser bundle. */
import { startConsole } from './app.ts'

const root = document.getElementById('app')
if (root) startConsole(root)
