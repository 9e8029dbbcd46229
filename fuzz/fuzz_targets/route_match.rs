//! Route paths and the deployment matcher: parsing never panics; a table built from the
//! parsed routes never panics on any request path; a route's own literal path matches
//! some route, and a match's index is in range.
#![no_main]
use libfuzzer_sys::fuzz_target;
use waygate::gateway::route::RouteTable;
use waygate::model::api::{Integration, Method, RoutePath};
use waygate::store::RouteRecord;

#[derive(arbitrary::Arbitrary, Debug)]
struct Input {
    routes: Vec<(u8, String)>,
    requests: Vec<(u8, String)>,
}

const METHODS: [Method; 8] =
    [Method::Get, Method::Post, Method::Put, Method::Patch, Method::Delete, Method::Head, Method::Options, Method::Any];

fuzz_target!(|input: Input| {
    let mut routes: Vec<RouteRecord> = Vec::new();
    for (m, p) in input.routes.into_iter().take(32) {
        let Ok(path) = RoutePath::parse(&p) else { continue };
        routes.push(RouteRecord {
            id: routes.len().to_string(),
            method: METHODS[m as usize % METHODS.len()],
            path,
            integration: Integration::Mock { status: 200, body: String::new(), headers: Default::default() },
            created_at: String::new(),
            updated_at: String::new(),
        });
    }
    if waygate::model::api::check_siblings(routes.iter().map(|r| &r.path)).is_err() {
        return;
    }
    let table = RouteTable::build(&routes);
    for (m, path) in input.requests.iter().take(32) {
        let method = METHODS[*m as usize % (METHODS.len() - 1)];
        if let Some(hit) = table.find(method, path) {
            assert!(hit.route < routes.len());
        }
    }
    for r in &routes {
        let literal = r.path.segments().iter().all(|s| matches!(s, waygate::model::api::Segment::Literal(_)));
        let method = if r.method == Method::Any { Method::Get } else { r.method };
        if literal {
            assert!(table.find(method, r.path.as_str()).is_some(), "{} does not match itself", r.path.as_str());
        }
    }
});
