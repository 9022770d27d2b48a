/** Entry point of the browser bundle. */
import { startConsole } from './app.ts'

const root = document.getElementById('app')
if (root) startConsole(root)
