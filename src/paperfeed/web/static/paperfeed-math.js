// Renders the TeX in titles, abstracts, snippets and comments (elements with
// class "math") with the vendored KaTeX. Without JavaScript (or if KaTeX fails
// on a formula) the TeX stays readable as text.
// KaTeX's "trust" stays off, so \href, \url and HTML extensions are refused.
//
// Delimiters: $$…$$ and \[…\] (display), \(…\) and $…$ (inline). KaTeX's own
// auto-render takes any two dollars as a formula, so "costs $5 and $10" became
// math; here an inline $…$ follows Pandoc's rule instead: the opening $ has no
// space after it, the closing $ no space before it and no digit after it.
(function () {
  "use strict";
  var FORMULA = new RegExp(
    [
      "\\$\\$([\\s\\S]+?)\\$\\$",
      "\\\\\\[([\\s\\S]+?)\\\\\\]",
      "\\\\\\(([\\s\\S]+?)\\\\\\)",
      "(?<![\\\\$])\\$(?![\\s$])((?:\\\\[\\s\\S]|[^$\\\\])+?)(?<![\\s\\\\])\\$(?![\\d$])",
    ].join("|"),
    "g"
  );
  // errorColor: a refused command (\href with trust off) shows in a color readable in
  // light and dark mode (paperfeed.css).
  var OPTIONS = { throwOnError: false, trust: false, strict: "ignore", errorColor: "var(--math-error)" };
  var SKIP = { SCRIPT: 1, STYLE: 1, TEXTAREA: 1, PRE: 1, CODE: 1, OPTION: 1, NOSCRIPT: 1 };

  function renderText(node) {
    var text = node.nodeValue;
    if (text.indexOf("$") < 0 && text.indexOf("\\") < 0) return;
    FORMULA.lastIndex = 0;
    var fragment = document.createDocumentFragment();
    var done = 0;
    var found = false;
    var match;
    while ((match = FORMULA.exec(text)) !== null) {
      var display = match[1] !== undefined || match[2] !== undefined;
      var tex = match[1] || match[2] || match[3] || match[4];
      var span = document.createElement("span");
      try {
        window.katex.render(tex, span, Object.assign({ displayMode: display }, OPTIONS));
      } catch (err) {
        continue; // leave this one as text
      }
      fragment.appendChild(document.createTextNode(text.slice(done, match.index)));
      fragment.appendChild(span);
      done = match.index + match[0].length;
      found = true;
    }
    if (!found) return;
    fragment.appendChild(document.createTextNode(text.slice(done)));
    node.parentNode.replaceChild(fragment, node);
  }

  function renderIn(element) {
    var walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT, {
      acceptNode: function (node) {
        for (var p = node.parentNode; p && p !== element.parentNode; p = p.parentNode) {
          if (SKIP[p.nodeName] || (p.classList && p.classList.contains("katex"))) {
            return NodeFilter.FILTER_REJECT;
          }
        }
        return NodeFilter.FILTER_ACCEPT;
      },
    });
    var nodes = [];
    while (walker.nextNode()) nodes.push(walker.currentNode);
    nodes.forEach(renderText);
  }

  function renderAll(root) {
    if (!window.katex) return;
    (root || document).querySelectorAll(".math").forEach(renderIn);
  }

  window.paperfeedMath = renderAll; // for cards added by "load more"
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { renderAll(); });
  } else {
    renderAll();
  }
})();
