//! `GET /v1/openapi.json` (no token): the management API as an OpenAPI 3.1 document, built
//! from [`super::routes::ROUTES`] — the table the router and the access rules come from —
//! so a route cannot exist without being described. Each operation carries its access
//! rule (`x-waygate-action`, `x-waygate-resource`): what a key's policy must allow.
//! Request and response bodies are described as JSON objects (or bytes where the route
//! takes code or a payload); errors by the one shape every route answers with,
//! `{"message": …}`. Built with utoipa's model types (its derive macros would need a
//! schema on every view; the table is the source here).

use super::access::{BodyKind, Refine};
use super::routes::{Route, ROUTES};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    extensions::ExtensionsBuilder, schema::Type, ComponentsBuilder, Content, InfoBuilder, ObjectBuilder, OpenApi,
    OpenApiBuilder, Paths, Ref, Required, ResponseBuilder,
};

/// The document, built once (the table is static).
pub fn document() -> &'static str {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| serde_json::to_string_pretty(&build()).unwrap_or_else(|e| format!("{{\"message\":\"{e}\"}}")))
}

pub async fn get() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], document())
}

fn method(m: &str) -> HttpMethod {
    match m {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        _ => HttpMethod::Delete,
    }
}

/// Which part of the API a route belongs to (the document's tags).
fn tag(path: &str) -> &'static str {
    let seg = path.trim_start_matches('/').split('/').collect::<Vec<_>>();
    match seg.as_slice() {
        ["2015-03-31" | "2017-10-31" | "2019-09-30", ..] => "AWS Lambda",
        ["restapis", ..] => "AWS API Gateway",
        ["v1", "functions", _, "aliases", ..] => "aliases",
        ["v1", "functions", _, "versions", ..] => "versions",
        ["v1", "functions", _, "logs"] => "logs",
        ["v1", "functions", ..] => "functions",
        ["v1", "apis", _, "stages", ..] => "stages",
        ["v1", "apis", _, "deployments", ..] => "deployments",
        ["v1", "apis", ..] => "apis",
        ["v1", "keys", ..] => "keys",
        ["v1", "secrets", ..] | ["v1", "environments", ..] => "secrets and values",
        ["v1", "applications", ..] | ["v1", "deployment-strategies", ..] => "configuration",
        _ => "operations",
    }
}

fn json_object(description: &str) -> Content {
    Content::new(Some(ObjectBuilder::new().schema_type(Type::Object).description(Some(description)).build()))
}

fn bytes() -> Content {
    Content::new(Some(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Binary))),
    ))
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", Content::new(Some(Ref::from_schema_name("Error"))))
        .build()
}

fn operation(r: &Route, operation_id: String) -> utoipa::openapi::path::Operation {
    let mut op = OperationBuilder::new()
        .operation_id(Some(operation_id))
        .summary(Some(r.handler_name.replace("::", ": ").replace('_', " ")))
        .tag(tag(r.path))
        .security(SecurityRequirement::new("bearer", Vec::<String>::new()));
    let (action, resource) = match r.rule.refine {
        Refine::PerItem => (r.rule.action, "each item's own (the answer keeps what the caller may read)"),
        _ => (r.rule.action, r.rule.resource),
    };
    op = op.description(Some(format!("Access: `{action}` on `{resource}`."))).extensions(Some(
        ExtensionsBuilder::new().add("waygate-action", action).add("waygate-resource", resource).build(),
    ));
    for name in r.path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))) {
        op = op.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
        );
    }
    if matches!(r.method, "POST" | "PUT" | "PATCH") {
        let content = match r.rule.body {
            BodyKind::Raw if r.path.ends_with("/code") => ("application/wasm", bytes()),
            BodyKind::Raw => ("application/octet-stream", bytes()),
            BodyKind::Json | BodyKind::LargeJson => ("application/json", json_object("The request's fields")),
        };
        op = op.request_body(Some(RequestBodyBuilder::new().content(content.0, content.1).build()));
    }
    let ok = match (r.method, r.path) {
        (_, "/metrics") => ("text/plain", Content::new(Some(ObjectBuilder::new().schema_type(Type::String)))),
        ("GET", "/v1/functions/{name}/code") => ("application/octet-stream", bytes()),
        _ => ("application/json", json_object("The answer's fields")),
    };
    op.response("2XX", ResponseBuilder::new().description("Success").content(ok.0, ok.1).build())
        .response("4XX", error_response("Bad input, unauthenticated (401), denied (403), not found or in conflict"))
        .response("5XX", error_response("The server failed"))
        .build()
}

fn build() -> OpenApi {
    let mut paths = Paths::new();
    let mut seen = std::collections::HashSet::new();
    for r in ROUTES {
        // `lambda::list_functions` serves two paths: the second gets a suffix.
        let mut id = r.handler_name.replace("::", ".");
        if !seen.insert(id.clone()) {
            id = format!("{id}.{}", r.path.trim_end_matches('/').rsplit('/').next().unwrap_or("alt"));
            let mut n = 2;
            while !seen.insert(id.clone()) {
                id = format!("{}.{n}", r.handler_name.replace("::", "."));
                n += 1;
            }
        }
        paths.add_path_operation(r.path, vec![method(r.method)], operation(r, id));
    }
    let open = |id: &str, summary: &str, content: (&str, Content)| {
        OperationBuilder::new()
            .operation_id(Some(id))
            .summary(Some(summary))
            .tag("operations")
            .description(Some("No token needed."))
            .security(SecurityRequirement::default())
            .response("200", ResponseBuilder::new().description("Success").content(content.0, content.1).build())
            .build()
    };
    paths.add_path_operation(
        "/v1/openapi.json",
        vec![HttpMethod::Get],
        open("openapi", "this document", ("application/json", json_object("OpenAPI 3.1"))),
    );
    paths.add_path_operation(
        "/healthz",
        vec![HttpMethod::Get],
        open(
            "healthz",
            "health probe",
            ("text/plain", Content::new(Some(ObjectBuilder::new().schema_type(Type::String)))),
        ),
    );
    let components = ComponentsBuilder::new()
        .schema(
            "Error",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("message", ObjectBuilder::new().schema_type(Type::String))
                .required("message")
                .description(Some("Every error's body")),
        )
        .security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)))
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Waygate management API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Functions, versions, aliases, APIs, deployments, stages, keys, secrets and \
                     configuration of a Waygate server. Send `Authorization: Bearer TOKEN` (the \
                     admin token or an API key); a key may do what its policy allows \
                     (`x-waygate-action` on `x-waygate-resource`).",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_document_with_its_parameters() {
        let doc: serde_json::Value = serde_json::from_str(document()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut ids = std::collections::HashSet::new();
        for r in ROUTES {
            let op = &doc["paths"][r.path][r.method.to_lowercase()];
            assert!(op.is_object(), "{} {} missing", r.method, r.path);
            assert!(ids.insert(op["operationId"].as_str().unwrap().to_string()), "{op}");
            assert_eq!(op["x-waygate-action"], r.rule.action, "{} {}", r.method, r.path);
            let params = r.path.matches('{').count();
            assert_eq!(op["parameters"].as_array().map_or(0, Vec::len), params, "{} {}", r.method, r.path);
        }
        let counted: usize = doc["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(counted, ROUTES.len() + 2, "the table's routes, the document and the probe; nothing else");
    }
}
