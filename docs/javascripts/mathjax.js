// MathJax 3 configuration, read by MathJax when it loads (it is listed after this file).
// pymdownx.arithmatex (generic mode) puts every formula of the Markdown pages and docstrings in an
// element of class "arithmatex", inline as \( ... \) and displayed as \[ ... \]; the notebook hook
// (docs/hooks/notebook_math.py) does the same for the notebooks' $ ... $ and $$ ... $$. MathJax
// typesets those elements only, so a dollar sign elsewhere (prose, code, outputs) stays a dollar.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};

// With the theme's instant navigation a page is swapped in without a reload: typeset it again.
if (typeof document$ !== "undefined") {
  document$.subscribe(() => {
    if (window.MathJax && MathJax.typesetPromise) {
      MathJax.startup.output.clearCache();
      MathJax.typesetClear();
      MathJax.texReset();
      MathJax.typesetPromise();
    }
  });
}
