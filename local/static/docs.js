// Swagger UI for the local stack's GET /openapi.json. Every request it makes (the document, and
// "Try it out") carries the pages' marker header; the front signs it with the local credentials.
"use strict";
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null, // the default validator is a remote service: the local stack runs offline
  requestInterceptor: (request) => {
    request.headers["X-Seedance-Console"] = "1";
    return request;
  },
});
