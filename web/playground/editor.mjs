// The playground's Lua editor: CodeMirror 6 (build.sh bundles this module with esbuild into
// dist/web/playground/editor.mjs; nothing is loaded from a CDN).
import { basicSetup } from "codemirror";
import { EditorView, keymap } from "@codemirror/view";
import { EditorState, Prec } from "@codemirror/state";
import { StreamLanguage, syntaxHighlighting } from "@codemirror/language";
import { indentWithTab } from "@codemirror/commands";
import { lua } from "@codemirror/legacy-modes/mode/lua";
// (a dependency of @codemirror/language) stable `tok-*` classes beside the default theme's
import { classHighlighter } from "@lezer/highlight";

/**
 * Create the editor in `parent`.
 * @param {Element} parent
 * @param {{doc?: string, onRun?: () => void, onChange?: (text: string) => void, id?: string}} options
 * @returns {{view: EditorView, getCode: () => string, setCode: (text: string) => void, focus: () => void}}
 */
export function createEditor(parent, { doc = "", onRun = () => {}, onChange = () => {}, id = "code" } = {}) {
  const run = () => { onRun(); return true; };
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        // basicSetup: line numbers, history (undo/redo), bracket matching and closing,
        // fold gutter, search, autocompletion of words, the default highlight style
        basicSetup,
        Prec.highest(keymap.of([
          { key: "Mod-Enter", run },    // Ctrl+Enter, Cmd+Enter on macOS
          { key: "Ctrl-Enter", run },   // Ctrl+Enter on macOS too
        ])),
        keymap.of([indentWithTab]),
        EditorState.tabSize.of(2),
        StreamLanguage.define(lua),
        syntaxHighlighting(classHighlighter),
        EditorView.contentAttributes.of({ id, "aria-label": "Lua code", spellcheck: "false" }),
        EditorView.updateListener.of((u) => { if (u.docChanged) onChange(u.state.doc.toString()); }),
      ],
    }),
  });
  return {
    view,
    getCode: () => view.state.doc.toString(),
    setCode: (text) => {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: String(text) } });
    },
    focus: () => view.focus(),
  };
}
