// kjs: starts Swagger UI on the schema the page names (a served file, not inline script: the
// docs pages run under a Content-Security-Policy without 'unsafe-inline' for scripts).
(function () {
  var script = document.currentScript;
  document.body.style.margin = "0";
  window.ui = SwaggerUIBundle({
    url: script.dataset.specUrl,
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // The default asks validator.swagger.io about the schema: no outside host, ever.
    validatorUrl: null,
  });
})();
