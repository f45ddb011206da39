// kjs: starts Redoc on the schema the page names (a served file, not inline script: the docs
// pages run under a Content-Security-Policy without 'unsafe-inline' for scripts).
(function () {
  var script = document.currentScript;
  document.body.style.margin = "0";
  Redoc.init(script.dataset.specUrl, {}, document.getElementById("redoc-container"));
})();
