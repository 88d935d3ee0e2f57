// Renders the TeX in titles and abstracts with the vendored KaTeX. Without
// JavaScript (or if KaTeX fails on a formula) the TeX stays readable as text.
// KaTeX's "trust" stays off, so \href, \url and HTML extensions are refused.
document.addEventListener("DOMContentLoaded", function () {
  if (typeof window.renderMathInElement !== "function") return;
  document.querySelectorAll(".math").forEach(function (element) {
    window.renderMathInElement(element, {
      delimiters: [
        { left: "$$", right: "$$", display: true },
        { left: "\\[", right: "\\]", display: true },
        { left: "$", right: "$", display: false },
        { left: "\\(", right: "\\)", display: false },
      ],
      throwOnError: false,
      trust: false,
    });
  });
});
