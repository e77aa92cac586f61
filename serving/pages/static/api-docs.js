// Starts Swagger UI (/docs) or ReDoc (/redoc) on the schema the page names; loaded as a file because the
// service's Content-Security-Policy allows no inline script.
"use strict";
(function () {
  var url = document.body.getAttribute("data-openapi-url");
  if (document.getElementById("swagger-ui") && window.SwaggerUIBundle) {
    window.ui = window.SwaggerUIBundle({
      url: url, dom_id: "#swagger-ui", layout: "BaseLayout", deepLinking: true,
      showExtensions: true, showCommonExtensions: true,
      presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIBundle.SwaggerUIStandalonePreset],
    });
  }
  var redoc = document.getElementById("redoc");
  if (redoc && window.Redoc) {
    window.Redoc.init(url, {}, redoc);
  }
})();
